"""The SOA's names are written out in full: a pointer dnslib would make from RNAME to a suffix
it shares with MNAME counts from the record data, not from the message, and reads as garbage."""

from __future__ import annotations

import dns.message
import dns.rdatatype

from globaldns.dns.responder import Responder
from globaldns.dns.zone import ZoneConfig
from globaldns.table.table import Table


def test_an_soa_whose_names_share_a_suffix_reads_back_whole() -> None:
    table = Table(ZoneConfig(nameserver="ns1.global"))
    query = dns.message.make_query("global.", "SOA")
    reply = dns.message.from_wire(Responder(table.zone).respond(query.to_wire(), udp=True) or b"")
    soa = reply.find_rrset(reply.answer, dns.name.from_text("global."), 1, dns.rdatatype.SOA)[0]
    assert (str(soa.mname), str(soa.rname)) == ("ns1.global.", "hostmaster.global.")
