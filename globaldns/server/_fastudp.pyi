from collections.abc import Callable, Sequence

from globaldns.dns.memo import Recent
from globaldns.dns.responder import Responder
from globaldns.server.counters import TransportCounters

class FastUdp:
    def __init__(
        self,
        fd: int,
        responder: Responder,
        respond: Callable[[bytes, Recent | None], bytes | None],
        transport: TransportCounters,
        bounds_ns: Sequence[int],
    ) -> None: ...
    def drain(self) -> None: ...
