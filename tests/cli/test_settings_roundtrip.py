"""Property: a config file of any declared keys gives the same `Settings` as the same values
given as flags, or as environment variables; the three layers read values one way."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from globaldns.cli import build_parser
from globaldns.config import Option
from globaldns.config.values import (
    IPV4_PREFIX,
    IPV6_PREFIX,
    MAX_TTL,
    dns_name,
    flag,
    host_port,
    network,
    path,
    positive,
    seconds,
    server_id,
    text,
    ttl,
    whole,
    zone_name,
)
from globaldns.health.options import positive_seconds, probe_port
from globaldns.settings import Settings, layers, options_of
from globaldns.sources.kubernetes.options import (
    ALLOW_REMOTE_KUBECONFIG,
    GATEWAY_RESOLVE_INTERVAL,
    WATCH_BACKOFF_MAX,
    WATCH_LIVENESS,
    WATCH_PROCESS_TIMEOUT,
    Allow,
    label_selector,
    namespaced_name,
)

PARSER = build_parser()
NAME = st.builds("{}{}".format, st.sampled_from(["a", "web", "east-2", "x0"]), st.integers(0, 99))
DOTTED = st.lists(NAME, min_size=1, max_size=3).map(".".join)
SECONDS = st.floats(0.001, 1e5).map(lambda number: round(number, 3))
PORT = st.integers(0, 65535)
IPV4 = st.ip_addresses(v=4).map(str)
IPV6 = st.ip_addresses(v=6).map(str)

# A YAML value for each way of reading one: what a config file would hold.
BY_PARSE: dict[Callable[[Any], Any], st.SearchStrategy[Any]] = {
    seconds: SECONDS,
    positive_seconds: SECONDS,
    whole: st.integers(0, 10**6),
    positive: st.integers(1, 10**6),
    ttl: st.integers(0, MAX_TTL),
    IPV4_PREFIX: st.integers(8, 32),
    IPV6_PREFIX: st.integers(8, 128),
    probe_port: PORT,
    flag: st.booleans(),
    text: NAME,
    path: NAME,
    zone_name: DOTTED,
    dns_name: DOTTED,
    server_id: st.builds("{}.{}".format, st.sampled_from(["Pod", "globaldns-7f"]), NAME),
    host_port: st.one_of(
        st.tuples(IPV4, PORT).map(lambda pair: f"{pair[0]}:{pair[1]}"),
        st.tuples(IPV6, PORT).map(lambda pair: f"[{pair[0]}]:{pair[1]}"),
    ),
    network: st.sampled_from(["10.0.0.0/8", "192.168.1.0/24", "::1/128", "fd00::/8"]),
    label_selector: st.sampled_from(["", "a=b", "a!=b,c", "!x", "app==web"]),
    namespaced_name: st.tuples(NAME, NAME).map("/".join),
}
BY_OPTION: dict[Option, st.SearchStrategy[Any]] = {
    GATEWAY_RESOLVE_INTERVAL: SECONDS,
    WATCH_BACKOFF_MAX: SECONDS,
    WATCH_LIVENESS: SECONDS,
    WATCH_PROCESS_TIMEOUT: SECONDS,
    ALLOW_REMOTE_KUBECONFIG: st.lists(st.sampled_from([str(a) for a in Allow]), unique=True),
}
DEFAULT_ADDRESSES = st.sampled_from([[], ["192.0.2.1"], ["2001:db8::1"], ["192.0.2.1", "::1"]])
LEFT_OUT = {"--config"}  # the file itself


def raw_values(option: Option) -> st.SearchStrategy[Any]:
    if option.flag == "--default-address":
        return DEFAULT_ADDRESSES
    if option.choices:
        return st.sampled_from(option.choices)
    one = BY_OPTION[option] if option in BY_OPTION else BY_PARSE[option.parse]
    return st.lists(one, min_size=1, max_size=3) if option.repeatable else one


SERVE = [option for option in options_of("serve") if option.flag not in LEFT_OUT]
GIVEN = st.fixed_dictionaries({}, optional={option: raw_values(option) for option in SERVE})


def as_flags(values: dict[Option, Any]) -> list[str]:
    argv: list[str] = []
    for option, value in values.items():
        if option.switch:
            argv += [option.flag] if value else []
        elif option.repeatable:
            for item in value:
                argv += [option.flag, str(item)]
        elif isinstance(value, list):  # one flag, comma-separated (--allow-remote-kubeconfig)
            argv += [option.flag, ",".join(value)]
        else:
            argv += [option.flag, str(value)]
    return argv


def as_environment(values: dict[Option, Any]) -> dict[str, str]:
    return {
        option.env: ",".join(map(str, value)) if isinstance(value, list) else str(value)
        for option, value in values.items()
    }


def from_file(values: dict[Option, Any]) -> Settings:
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "config.yaml"
        config.write_text(yaml.safe_dump({option.key: value for option, value in values.items()}))
        read = layers(PARSER.parse_args(["serve", "--config", str(config)]), {})
        settings = read.build(Settings)
    return replace(settings, sources=replace(settings.sources, config=None))


def test_every_option_serve_offers_has_values_to_try() -> None:
    for option in SERVE:
        raw_values(option)  # a KeyError names an option the property would never try


@settings(max_examples=100, deadline=None)
@given(GIVEN)
def test_a_config_file_reads_as_the_same_flags_and_environment_variables(
    values: dict[Option, Any],
) -> None:
    by_flags = layers(PARSER.parse_args(["serve", *as_flags(values)]), {}).build(Settings)
    by_environment = layers(PARSER.parse_args(["serve"]), as_environment(values)).build(Settings)
    assert from_file(values) == by_flags == by_environment
