"""Gateways for tests and benches: real TCP listeners on loopback addresses (127.0.0.0/8) that
accept, refuse (nothing listening: the kernel answers RST) or black-hole (listening with a full
accept queue: Linux drops the SYN, so a connect times out), and come back."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from enum import StrEnum

from harness.processes import free_port


class Mode(StrEnum):
    ACCEPT = "accept"
    REFUSE = "refuse"
    BLACK_HOLE = "black-hole"


class Gateway:
    """One address:port; `mode` is changed by `accept()`, `refuse()` and `black_hole()`."""

    def __init__(self, farm: GatewayFarm, address: str, port: int) -> None:
        self.farm = farm
        self.address = address
        self.port = port
        self.mode = Mode.REFUSE
        self._listener: socket.socket | None = None
        self._fill: list[socket.socket] = []

    def accept(self) -> Gateway:
        self._close()
        self._listener = self._listen(128)
        self.farm.watch(self._listener)
        self.mode = Mode.ACCEPT
        return self

    def refuse(self) -> Gateway:
        self._close()
        self.mode = Mode.REFUSE
        return self

    def black_hole(self) -> Gateway:
        """Backlog 0 holds one finished handshake; once it is taken, further SYNs are dropped."""
        self._close()
        self._listener = self._listen(0)
        for _ in range(4):
            client = socket.socket()
            client.settimeout(0.2)
            self._fill.append(client)
            try:
                client.connect((self.address, self.port))
            except TimeoutError:
                break
        else:
            raise AssertionError(f"{self.address}:{self.port} still accepts with a full queue")
        self.mode = Mode.BLACK_HOLE
        return self

    def _listen(self, backlog: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.address, self.port))
        sock.listen(backlog)
        return sock

    def _close(self) -> None:
        if self._listener is not None:
            if self.mode is Mode.ACCEPT:
                self.farm.unwatch(self._listener)
            self._listener.close()
            self._listener = None
        for client in self._fill:
            client.close()
        self._fill.clear()


class GatewayFarm:
    """Many gateways on one port, accepted (and closed at once) by one background thread."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.gateways: list[Gateway] = []
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="gateways", daemon=True)
        self._thread.start()

    def gateway(self, address: str) -> Gateway:
        """A new gateway at `address` (loopback only), accepting."""
        if not address.startswith("127."):
            raise ValueError(f"{address}: test gateways live in 127.0.0.0/8 only")
        made = Gateway(self, address, self.port)
        self.gateways.append(made)
        return made.accept()

    def watch(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        with self._lock:
            self._selector.register(sock, selectors.EVENT_READ)

    def unwatch(self, sock: socket.socket) -> None:
        with self._lock:
            self._selector.unregister(sock)

    def _run(self) -> None:
        while not self._stop:
            with self._lock:  # register/unregister wait at most one select
                ready = self._selector.select(timeout=0.01) if self._selector.get_map() else []
            for key, _ in ready:
                try:
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:  # closed or nothing to take after all
                    continue
                conn.close()
            if not ready:
                time.sleep(0.005)  # lets a register in

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        for gateway in self.gateways:
            gateway.refuse()
        self._selector.close()

    def __enter__(self) -> GatewayFarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
