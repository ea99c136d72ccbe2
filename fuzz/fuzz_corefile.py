"""Fuzz the Corefile parser with `wire` and `unwire`: a round trip, or a clear refusal.

Any text either is refused (`CorefileError`, or `AddressError` for the address) or:
the wired file parses and holds the managed block; wiring it again changes nothing; and
unwiring it with the original as the saved copy gives the original back, byte for byte.
The `--zones` readings of the same text (a `multicluster` option, a clusterset block install
did not write) give fully qualified zones or that same refusal.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import atheris

from globaldns.install import corefile

with atheris.instrument_imports(include=["globaldns"]):
    from globaldns.install import wiring
    from globaldns.install.corefile import CorefileError
    from globaldns.install.wiring import AddressError, managed_block, unwire, wire
    from globaldns.install.zones import MCS_ZONE, corefiles, foreign_blocks, multicluster_zones

# The lexer's loop over characters is most of the time and has few branches: left out of the
# instrumentation, the parser and the wiring around it fuzz several times as fast.
LEFT_OUT = {corefile.tokenize.__code__, corefile._quoted.__code__}


def _functions(namespace: dict[str, Any]) -> list[Any]:
    """The functions of corefile.py in a module's or a class's namespace, properties' too."""
    found = []
    for value in namespace.values():
        if isinstance(value, type) and value.__module__ == corefile.__name__:
            found += _functions(dict(vars(value)))
        func = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        code = getattr(func, "__code__", None)
        if code is not None and code.co_filename == corefile.__file__ and code not in LEFT_OUT:
            found.append(func)
    return found


for function in _functions(vars(corefile)):
    atheris.instrument_func(function)
# A round trip parses the input and the wired file five times over; `parse` is a pure function
# of the text with a frozen result, so it is memoized here and each text is parsed once.
parse = functools.lru_cache(maxsize=8)(corefile.parse)
wiring.parse = parse  # type: ignore[attr-defined]

ADDRESS = "10.96.0.53"
ZONE = "global"
COREFILE = "Corefile"


def TestOneInput(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # a ConfigMap holds text: bytes that are not UTF-8 never reach the parser
    try:
        served = multicluster_zones({COREFILE: text})
        assert all(zone.endswith(".") for zone in served), f"a zone not fully qualified: {served}"
        assert foreign_blocks(corefiles({COREFILE: text}), (MCS_ZONE,)) <= {MCS_ZONE}
    except CorefileError:
        pass
    try:
        wired = wire(text, ADDRESS, ZONE)
    except (CorefileError, AddressError):
        return
    assert managed_block(parse(wired), ZONE) is not None, "the wired file has no managed block"
    assert wire(wired, ADDRESS, ZONE) == wired, "wiring twice changed the file"
    undone = unwire(wired, text, ZONE)
    assert undone.restored_exactly and undone.text == text, "unwire did not give the input back"


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
