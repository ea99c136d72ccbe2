"""AKS `coredns-custom` wiring: our block under its own `*.server` key."""

from __future__ import annotations

from globaldns.install.coredns_custom import unwire_custom, wire_custom
from globaldns.install.corefile import parse

USER_KEYS = {"log.override": "log\n", "acme.server": "acme.local:53 {\n    forward . 1.2.3.4\n}\n"}


def test_our_block_is_stored_under_global_server() -> None:
    data = wire_custom(USER_KEYS, "10.96.0.20")
    (block,) = parse(data["global.server"]).blocks_serving("global")
    forward = next(d for d in block.directives if d.name.text == "forward")
    assert [a.text for a in forward.args] == [".", "10.96.0.20:53"]


def test_the_users_keys_are_left_as_they_were() -> None:
    data = wire_custom(USER_KEYS, "10.96.0.20")
    assert {k: v for k, v in data.items() if k != "global.server"} == USER_KEYS


def test_wiring_again_gives_equal_data() -> None:
    data = wire_custom(USER_KEYS, "10.96.0.20")
    assert wire_custom(data, "10.96.0.20") == data


def test_unwiring_gives_back_the_users_keys() -> None:
    assert unwire_custom(wire_custom(USER_KEYS, "10.96.0.20")) == USER_KEYS
