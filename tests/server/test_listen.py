"""SPEC §5: `--listen` may be given more than once; each address serves UDP and TCP."""

from __future__ import annotations

from harness import GlobalDns, addresses, ask, free_port
from harness.meshes import MESH


def test_every_listen_address_answers_udp_and_tcp() -> None:
    second = free_port()
    server = GlobalDns(MESH, args=["--listen", f"127.0.0.1:{second}"])
    server.start()
    try:
        for port in (server.port, second):
            for tcp in (False, True):
                assert addresses(ask(port, "foo.global", tcp=tcp)) == ["10.0.0.1"]
    finally:
        server.stop()
