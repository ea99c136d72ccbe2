"""The sockets `serve` listens on: a UDP and a TCP server per `--listen` address, and the admin
HTTP server on `--admin`. An address that cannot be bound is a one-line start-up error, and the
sockets already open are closed first."""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Callable, Iterable

from globaldns.config import ConfigError, host_port_text
from globaldns.dns.responder import Responder
from globaldns.server import admin, dns
from globaldns.server.counters import TransportCounters
from globaldns.server.metrics import Scraper
from globaldns.server.rrl import RateLimiter
from globaldns.server.tcp import TcpClients
from globaldns.settings import ServerSettings
from globaldns.table.pages import TablePages

Listener = tuple[dns.UdpServer, asyncio.Server]  # one `--listen` address's UDP and TCP servers


async def listen_dns(
    responder: Responder, settings: ServerSettings, transport: TransportCounters
) -> list[Listener]:
    """A UDP and a TCP socket on each `--listen` address; a busy port is a start-up error."""
    servers: list[Listener] = []
    # The caps count every listener's connections.
    clients = TcpClients(transport, settings.tcp)
    rrl = settings.rrl
    limiter = RateLimiter(rrl, transport.rrl) if rrl.on else None  # shared by every listener
    for host, port in settings.listen:
        try:
            servers.append(await dns.start(responder, host, port, transport, clients, limiter))
        except OSError as err:
            close(servers)
            raise unbindable("--listen", "DNS", host, port, err) from None
    return servers


async def listen_admin(
    scraper: Scraper,
    pages: TablePages,
    unready: Callable[[], str],
    settings: ServerSettings,
    servers: list[Listener],
) -> admin.AdminServer:
    """`/metrics`, `/health`, `/ready` and `/table` on `--admin`; a busy port closes the DNS
    sockets already open and is a start-up error."""
    host, port = settings.admin
    try:
        return await admin.start(
            admin.build_app(scraper, pages, unready, settings.table_from), host, port
        )
    except OSError as err:
        close(servers)
        raise unbindable("--admin", "HTTP", host, port, err) from None


def queries_waiting(sockets: Iterable[socket.socket]) -> Callable[[], bool]:
    """Whether a datagram waits on any of the DNS UDP sockets: one poll(2) that never blocks,
    which the table's commit scheduler asks between slices of compiling (`yield_to`)."""
    poller = select.poll()
    for sock in sockets:
        poller.register(sock.fileno(), select.POLLIN)

    def waiting() -> bool:
        return bool(poller.poll(0))

    return waiting


def unbindable(flag: str, what: str, host: str, port: int, err: OSError) -> ConfigError:
    """The one-line start-up error for an address a server cannot listen on."""
    why = (err.strerror or str(err)).rsplit(": ", 1)[-1].lower()
    return ConfigError(
        f"{flag} {host_port_text(host, port)}: cannot serve {what} there: {why}; "
        f"stop what uses it or give another {flag} HOST:PORT"
    )


def close(servers: list[Listener]) -> None:
    for udp, tcp in servers:
        udp.close()
        tcp.close()
