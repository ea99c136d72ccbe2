"""One zone compiled from the index: dirty names in, compiled answers out, in budgeted turns.

The table marks what changed (`touch`, `touch_entries`); `reclaim` brings the zone's claims
(`claims.Claims`, through the zone's naming scheme) in line for those hosts, host by host, and
`commit` does that first, then recompiles only the names whose answers may differ and swaps
each in whole. The view a name was compiled from is kept: `/table` shows what the answers came
from.

Pinned names are one per cluster and region a service runs in, so most of the zone, and
rarely asked for: a commit only drops them from the zone, which asks the pipeline (`_on_miss`)
when one is queried; it is compiled then and held until it changes again.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from globaldns.dns.compile import NODATA, Node, serial_after
from globaldns.dns.wildcard import is_wildcard, wildcard_node
from globaldns.dns.wire import fits
from globaldns.dns.zone import Zone, ZoneConfig
from globaldns.table.claims import PINNED, Claim, Claims
from globaldns.table.index import Index
from globaldns.table.scheme import NamingScheme
from globaldns.table.views import NameView, same_answers, unserved_view, view_of

log = logging.getLogger(__name__)
_P = ParamSpec("_P")
_T = TypeVar("_T")


class Pipeline:
    """The compiled `zone` of one naming scheme over the index."""

    def __init__(self, config: ZoneConfig, index: Index, scheme: NamingScheme) -> None:
        self.config = config
        self.index = index
        self.zone = Zone(config)
        self.claims = Claims(config, index, scheme, self._claimed)
        self._compiled: dict[str, tuple[bytes, ...]] = {}  # name -> wire owners it put
        self._views: dict[str, NameView] = {}  # name -> what its answers were compiled from
        self._dirty_hosts: dict[str, set[str] | None] = {}  # host -> clusters touched (None: all)
        self._reclaiming: deque[tuple[str, set[str] | None]] = deque()  # taken from the above
        self._dirty_entries: set[str] = set()
        self._dirty_names: set[str] = set()
        self._unanswered: set[str] = set()  # claimed names asked for that answered nothing
        self._failures_logged: set[str] = set()
        self.internal_errors = 0  # names whose compilation failed (a bug): they kept their answer
        self.commits = 0
        self.complete = True
        self.changed = False  # a commit swapped answers: the serial moves when it completes
        self.source_time: float | None = None  # when the source says its data changed
        self.zone.on_miss = self._on_miss

    def _claimed(self) -> None:
        """A name nobody held is claimed. The responder may remember NXDOMAIN for it; a
        pinned name now claimed is not put in the zone (compiled on its first query), so no
        zone write would empty that memory. New names are rare; changes are not."""
        self.zone.memo.forget()

    # -- what changed -----------------------------------------------------------------------
    def touch(self, host: str, cluster: str | None) -> None:
        """A cluster's part of `host` changed (None: which clusters run it, or their regions)."""
        if cluster is None:
            self._dirty_hosts[host] = None
            return
        touched = self._dirty_hosts.get(host, set())
        if touched is not None:
            touched.add(cluster)
            self._dirty_hosts[host] = touched

    def touch_entries(self, hosts: set[str]) -> None:
        self._dirty_entries.update(hosts)

    def set_complete(self, complete: bool) -> None:
        self.complete = complete
        if not complete:
            self.zone.set_complete(False)

    def commit(self, budget: float | None = None) -> bool:
        """Reclaim what the changes touched, then recompile the names whose answers may differ;
        with a `budget` (seconds), stop once it is spent (at least one host or name done).

        Returns whether everything is compiled; if not, call again (e.g. on the next loop turn)
        to go on. Each name is swapped in whole, so a partial commit never blanks a name.
        """
        deadline = None if budget is None else time.perf_counter() + budget
        if not self.reclaim(deadline):
            return False
        while self._dirty_names:
            name = self._dirty_names.pop()
            self._guarded(name, self._compile, name)
            if deadline is not None and time.perf_counter() > deadline:
                break
        if not self._dirty_names:
            self._dirty_names = set()  # a set emptied by pop() stays slow to pop from
            self.zone.set_complete(self.complete)
            if self.changed:
                self._new_serial()
        self.commits += 1
        return not self._dirty_names

    def reclaim(self, deadline: float | None = None) -> bool:
        """Bring the claims of the hosts changes touched in line, one host at a time until
        `perf_counter()` passes `deadline` (one at least); whether every one is.

        In steps, because a turn's changes touch some 50 hosts under 1,000 updates/s, 0.6 ms of
        work a DNS query waited behind when done at once. Names are compiled only once every
        host is reclaimed, from claims that agree with the index: a name one host gives up and
        another takes never answers NXDOMAIN between the two.
        """
        if self._dirty_hosts:
            self._reclaiming.extend(self._dirty_hosts.items())
            self._dirty_hosts.clear()
        reclaiming = self._reclaiming
        while reclaiming:
            host, touched = reclaiming.popleft()
            self._dirty_names |= self._guarded(host, self._reclaim_host, host, touched) or set()
            if reclaiming and deadline is not None and time.perf_counter() > deadline:
                return False
        for host in self._dirty_entries:
            self._dirty_names |= self._guarded(host, self.claims.reclaim_entry, host) or set()
        self._dirty_entries.clear()
        return True

    def _reclaim_host(self, host: str, touched: set[str] | None) -> set[str]:
        """One step of a commit: the host's claims; the names whose answers may change."""
        return self.claims.reclaim_host(host, touched)

    def _new_serial(self) -> None:
        """The SOA serial after a change (RFC 1982: it always increases): the second the data
        changed by the source's clock (a mesh file's mtime, so replicas reading one file
        agree), else by ours, the second the change was compiled (Kubernetes watches and
        gateway probes carry no time of their own); the last serial plus one when that second
        is not ahead of it (two changes within one second)."""
        changed = self.source_time if self.source_time is not None else time.time()
        self.zone.set_serial(serial_after(self.zone.serial, changed))
        self.changed = False
        self.source_time = None

    @property
    def pending(self) -> int:
        """Hosts and names whose reclaiming or recompilation a budgeted commit left for later."""
        return len(self._reclaiming) + len(self._dirty_names)

    # -- reading ----------------------------------------------------------------------------
    def views(self) -> Iterator[NameView]:
        for name in sorted(self.claims.by_name):
            view = self.view(name)
            if view is not None:
                yield view

    def view(self, name: str) -> NameView | None:
        return self._current(name, explain=False) if self._listed(name) else None

    def lookup(self, name: str) -> NameView | None:
        """One name, explained: any case, with or without the zone and the trailing dot.

        An SRV name (`_http._tcp.foo`) finds the name it points at; a name below a wildcard
        the wildcard's view; a ServiceEntry host outside the zone (`legacy.example.com`) why
        it is not named.
        """
        listed = self._listed
        wanted = name.lower().rstrip(".")
        outside = self.claims.unserved.get(f"{wanted}.")
        if outside is not None:
            return unserved_view(f"{wanted}.", outside)
        zone = self.config.zone.lower()
        if wanted.endswith("." + zone) and not listed(wanted):
            wanted = wanted[: -len(zone) - 1]
        labels = wanted.split(".")
        if not listed(wanted) and len(labels) > 2 and labels[0][:1] == labels[1][:1] == "_":
            wanted = ".".join(labels[2:])
        if listed(wanted):
            return self._current(wanted, explain=True)
        covered = self._covered(wanted)
        if covered is not None:
            return covered
        unserved = self.claims.unserved.get(wanted)
        return unserved_view(wanted, unserved) if unserved is not None else None

    def _covered(self, name: str) -> NameView | None:
        """A name only a wildcard answers, explained: the wildcard's view under its name."""
        zone = self.zone
        if not zone.wildcards or not fits(f"{name}.{self.config.zone}"):
            return None
        owner = zone.compiler.owner(name)
        parent = zone.covering(owner) if owner not in zone.names else None
        if parent is None:
            return None
        wildcard = ".".join(["*", *_relative_labels(owner[parent:], len(zone.wire))])
        view = self._current(wildcard, explain=True)
        if view is None:
            return None
        reason = f"{view.reason}, by the wildcard {wildcard}.{self.config.zone}"
        return dataclasses.replace(view, name=name, why=reason)

    def _listed(self, name: str) -> bool:
        """In the zone as of the last commit, or a pinned name compiled when asked for."""
        return name in self._compiled or self._deferred(name)

    def _current(self, name: str, explain: bool) -> NameView | None:
        """The stored view; worked out now from the same claims and state when it is deferred
        or wanted with contributions (the stored one stays when that finds nothing)."""
        view = self._views.get(name)
        if view is not None and not explain:
            return view
        claims = self.claims.by_name.get(name)
        worked = self._view(name, claims[0], explain) if claims else None
        return worked if worked is not None else view

    # -- compiling --------------------------------------------------------------------------
    def _guarded(
        self, name: str, step: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T | None:
        """One step of a commit for one name; a failure (a bug) keeps the name's previous
        answer, is counted and logged once per name, and the commit goes on."""
        try:
            return step(*args, **kwargs)
        except Exception:
            self.internal_errors += 1
            if name not in self._failures_logged:
                self._failures_logged.add(name)
                log.exception(
                    "internal error compiling %s.%s; it keeps its previous answer",
                    name,
                    self.config.zone,
                    extra={"fqdn": f"{name}.{self.config.zone}."},
                )
            return None

    def _view(self, name: str, claim: Claim, explain: bool = False) -> NameView | None:
        return view_of(self.index, self.config.default_addresses, name, claim, explain)

    def _compile(self, name: str, defer: bool = True) -> None:
        """Work out the name's answer first, then swap it in whole: a failure changes nothing.

        A pinned name (unless `defer` is False) is only dropped from the zone, which asks
        `_on_miss` for it on its next query, so it is compiled when, and if, it is asked for.
        """
        winner = self.claims.winner(name)
        view = None
        if winner is not None:
            # Asked for and found empty, the responder may remember it as NXDOMAIN (a memo
            # only a zone write empties): compiled now, it writes if it answers.
            if (
                defer
                and winner.kind in PINNED
                and (
                    self._kept(name, winner)
                    or (not self._shadowed(name) and name not in self._unanswered)
                )
            ):
                return
            view = self._view(name, winner)
        else:
            self.claims.by_name.pop(name, None)
        if view is not None or winner is None:
            self._unanswered.discard(name)  # it answers now, or nobody holds it
        old = self._views.get(name)
        if view is not None and old is not None and same_answers(view, old):
            self._views[name] = view  # e.g. a remote gateway moved but this name answers locally
            return
        self._swap(name, self._nodes(name, view) if view is not None else {})
        if view is not None:
            self._views[name] = view

    def _kept(self, name: str, winner: Claim) -> bool:
        """A pinned name held since its last query stays when its answers are the same; else it
        is dropped, to be compiled again on its next query (one never asked for holds nothing)."""
        if name not in self._compiled:
            return False
        view = self._view(name, winner)
        old = self._views.get(name)
        if view is not None and old is not None and same_answers(view, old):
            self._views[name] = view
            return True
        self._swap(name, {})
        return False

    def _swap(self, name: str, nodes: dict[bytes, Node]) -> None:
        """Put the name's nodes in the zone in place of what it put before."""
        self.changed = self.changed or bool(nodes) or name in self._compiled
        for owner in self._compiled.pop(name, ()):
            if owner not in nodes:
                self.zone.remove(owner)
        self._views.pop(name, None)
        if nodes:
            self._compiled[name] = tuple(nodes)  # first: a put may ask `_on_miss` about it
        for owner, node in nodes.items():
            self.zone.put(owner, node)

    def _deferred(self, name: str) -> bool:
        """A pinned name the zone does not hold: compiled on its first query."""
        claims = self.claims.by_name.get(name)
        if not claims:
            return False
        return claims[0].kind in PINNED and name not in self._compiled

    def _shadowed(self, name: str) -> bool:
        """Whether another name below it is held: then the zone answers NODATA there, not a
        miss, so it must be compiled now (rare: a pinned name that is another name's parent)."""
        return self.zone.is_ancestor(self.zone.compiler.owner(name))

    def _on_miss(self, owner: bytes) -> Node | None:
        """A name the zone does not hold: if it is a pinned name, or its SRV or `_tcp` name,
        and that pinned name is deferred, compile it now and answer from the result.

        A claimed name found without an answer here is noted (`_unanswered`): the responder
        may remember the NXDOMAIN, so a commit compiles it rather than deferring it again.
        """
        zone = self.zone
        if not zone.contains(owner):
            return None
        labels = _relative_labels(owner, len(zone.wire))
        for skip in range(min(3, len(labels))):
            name = ".".join(labels[skip:])
            if self._deferred(name):
                failures, changed = self.internal_errors, self.changed
                self._guarded(name, self._compile, name, False)
                self.changed = changed  # compiled late, not changed: the serial stays
                if self.internal_errors != failures:  # a bug, logged and counted: no answer
                    return {NODATA: zone.compiler.servfail()}
                node = zone.names.get(owner)
                if node is None:
                    self._unanswered.add(name)
                return node
            if name in self.claims.by_name and name not in self._compiled:
                self._unanswered.add(name)
            if skip == len(labels) - 1 or not labels[skip].startswith("_"):
                break
        return None

    def _nodes(self, name: str, view: NameView) -> dict[bytes, Node]:
        compiler = self.zone.compiler
        if is_wildcard(name):  # `*.shard`: one node, the names below synthesized from it
            return wildcard_node(compiler, name, view.groups, view.ports, view.answer_tier)
        return compiler.name_nodes(name, view.groups, view.ports, view.answer_tier)


def _relative_labels(owner: bytes, zone_length: int) -> list[str]:
    """The labels of a wire owner in front of the zone's (its last `zone_length` bytes)."""
    labels = []
    i = 0
    while i < len(owner) - zone_length:
        length = owner[i]
        labels.append(owner[i + 1 : i + 1 + length].decode("ascii", "backslashreplace"))
        i += length + 1
    return labels
