"""The dnslib baseline: a plain `DNSServer` answering a zone file from a dict.

It is the "obvious Python DNS server" that globaldns is held against (>= 20x its throughput),
so it stays as dnslib ships it: thread per request, no tuning beyond turning logging off.
Run: `python bench/peers/dnslib_server.py ZONEFILE PORT` (serves UDP on 127.0.0.1).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections import defaultdict
from pathlib import Path

from dnslib import QTYPE, RCODE, RR, DNSLabel, DNSRecord
from dnslib.server import DNSHandler, DNSLogger, DNSServer


class DictResolver:
    """Authoritative answers from {(name, type): records}; NXDOMAIN/NODATA carry the SOA.

    Duck-typed as a dnslib resolver (`resolve(request, handler)`), as DNSServer needs.
    """

    def __init__(self, zone_text: str) -> None:
        records = RR.fromZone(zone_text)
        self.soa = next(rr for rr in records if rr.rtype == QTYPE.SOA)
        self.origin = self.soa.rname
        self.records: dict[tuple[str, int], list[RR]] = defaultdict(list)
        self.names: set[str] = set()
        for rr in records:
            name = str(rr.rname).lower()
            self.records[(name, rr.rtype)].append(rr)
            self.names.add(name)

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname: DNSLabel = request.q.qname
        if not qname.matchSuffix(self.origin):
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply
        name = str(qname).lower()
        answers = self.records.get((name, request.q.qtype))
        if answers:
            for rr in answers:
                reply.add_answer(RR(qname, rr.rtype, rr.rclass, rr.ttl, rr.rdata))
            return reply
        if name not in self.names:
            reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(self.soa)
        return reply


def main(argv: list[str]) -> int:
    zone_file, port = Path(argv[0]), int(argv[1])
    server = DNSServer(
        DictResolver(zone_file.read_text()),
        address="127.0.0.1",
        port=port,
        logger=DNSLogger("-request,-reply,-truncated,-error"),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start_thread()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
