"""The table: what sources say about the mesh, and the names compiled from it.

Sources write slim records through the `TableSink` methods; `commit` recompiles only the names
those records touch (a service's global name, its pinned name for the changed cluster and that
cluster's region, their SRV names) and swaps them into the zone the responder reads. A gateway
health change touches the same names of every host that cluster runs, and no others.

Pinned names are one per cluster and region a service runs in, so most of the table, and
rarely asked for: a commit only drops them from the zone, which asks the table (`_on_miss`)
when one is queried; it is compiled then and held until it changes again.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from globaldns.dns.compile import NODATA, Node, Tier, serial_after
from globaldns.dns.wire import ENTRY_SKIPS, Unfit, unfit
from globaldns.dns.zone import Zone, ZoneConfig
from globaldns.table.claims import Claim, ClaimKind, pinned
from globaldns.table.model import Cluster, Entry, GatewayHealth, Instance, Port
from globaldns.table.policy import Contribution, Resolution, Scope, Site, resolve, site

log = logging.getLogger(__name__)
# Names compiled on their first query: many (one per cluster and region a service runs in) and
# rarely asked for, while the service's own name is what clients ask.
_PINNED = (ClaimKind.CLUSTER_PIN, ClaimKind.REGION_PIN)
_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class NameView:
    """One resolved name, as `globaldns table`, `/table` and the zone-file export show it."""

    name: str
    kind: ClaimKind
    tier: Tier
    clusters: tuple[str, ...]
    addresses: tuple[str, ...]
    ports: tuple[Port, ...]
    reason: str
    groups: tuple[tuple[str, ...], ...]
    contributions: tuple[Contribution, ...] = ()

    @property
    def answer_tier(self) -> Tier:
        """What its answers count as: the policy's tier for a service, else pinned or entry."""
        if self.kind == ClaimKind.SERVICE:
            return self.tier
        return Tier.ENTRY if self.kind == ClaimKind.ENTRY else Tier.PINNED


@dataclass(frozen=True, slots=True)
class Unserved:
    """A name a claim would make that cannot be a DNS name: never compiled, explained."""

    claim: Claim
    reason: Unfit
    why: str


class Table:
    """Implements `TableSink`; `zone` is what the DNS servers answer from."""

    def __init__(self, config: ZoneConfig, local_cluster: str | None = None) -> None:
        self.config = config
        self.local = local_cluster
        self.zone = Zone(config)
        self.clusters: dict[str, Cluster] = {}
        self.health: dict[str, dict[str, GatewayHealth]] = {}  # cluster -> address -> probe result
        # cluster -> its gateways as judged by `health` (what the answers and /table read)
        self.sites: dict[str, Site] = {}
        self._regions: dict[str, set[str]] = defaultdict(set)  # region -> its clusters
        # host -> cluster -> key -> instance (several objects of one cluster may share a host)
        self._instances: dict[str, dict[str, dict[str, Instance]]] = defaultdict(dict)
        self._merged: dict[str, dict[str, Instance]] = defaultdict(dict)  # host -> cluster ->
        self._ports: dict[str, tuple[Port, ...]] = {}  # host -> its ports, while unchanged
        self._where: dict[str, dict[str, str]] = defaultdict(dict)  # cluster -> key -> host
        self._entries: dict[tuple[str, str], Entry] = {}
        self._claims: dict[str, tuple[Claim, ...]] = {}  # name -> claims, sorted (mostly one)
        self._claims_of_host: dict[str, set[tuple[str, Claim]]] = defaultdict(set)
        self._compiled: dict[str, tuple[bytes, ...]] = {}  # name -> wire owners it put
        self._views: dict[str, NameView] = {}
        self._dirty_hosts: dict[str, set[str] | None] = {}  # host -> clusters touched (None: all)
        self._dirty_entries: set[str] = set()
        self._dirty_names: set[str] = set()
        self._conflicts_logged: set[str] = set()
        self._unanswered: set[str] = set()  # claimed names asked for that answered nothing
        self._failures_logged: set[str] = set()
        self.conflicts = 0  # names ever claimed more than one way
        self.internal_errors = 0  # names whose compilation failed (a bug): they kept their answer
        self.unserved: dict[str, Unserved] = {}  # names that cannot be DNS names, and why
        self.skipped = [0] * len(Unfit)  # those names, counted once each, by reason
        self.commits = 0
        self._complete = True
        self._changed = False  # a commit swapped answers: the serial moves when it completes
        self._source_time: float | None = None  # when the source says its data changed
        self.zone.on_miss = self._on_miss

    # -- TableSink ------------------------------------------------------------------------
    def put_cluster(self, cluster: Cluster) -> None:
        if self.clusters.get(cluster.name) == cluster:
            return
        old = self.clusters.get(cluster.name)
        self.clusters[cluster.name] = cluster
        self._changed = True  # its pinned names' answers, compiled or not, may change
        if old is not None and old.region:
            self._regions[old.region].discard(cluster.name)
        if cluster.region:
            self._regions[cluster.region].add(cluster.name)
        known = self.health.get(cluster.name, {})
        for address in [a for a in known if a not in cluster.gateways]:
            del known[address]  # no longer listed: a later return starts up again
        self.sites[cluster.name] = site(cluster, known)
        moved = old is None or old.region != cluster.region
        if cluster.name == self.local and moved:
            for host in self._instances:
                self._dirty_hosts[host] = None  # near and far change for every name
            return
        for host in self._hosts_in(cluster.name):
            if moved:
                self._dirty_hosts[host] = None  # its region-pinned claims move
            else:
                self._touch(host, cluster.name)

    def drop_cluster(self, name: str) -> None:
        for key in list(self._where.get(name, ())):
            self.put_instance(name, key, None)
        self._where.pop(name, None)
        for cluster, key in [where for where in self._entries if where[0] == name]:
            self.put_entry(cluster, key, None)
        self.health.pop(name, None)
        self.sites.pop(name, None)
        gone = self.clusters.pop(name, None)
        self._changed = True
        if gone is not None and gone.region:
            self._regions[gone.region].discard(name)
        if gone is not None and name == self.local:
            for host in self._instances:
                self._dirty_hosts[host] = None

    def put_gateway_health(self, cluster: str, address: str, health: GatewayHealth | None) -> None:
        """Store what probing says; names recompile only when up/down or the error changes."""
        known = self.health.setdefault(cluster, {})
        before = _judgement(known.get(address))
        if health is None:
            known.pop(address, None)
        else:
            known[address] = health
        listed = self.clusters.get(cluster)
        if _judgement(health) == before or listed is None or address not in listed.gateways:
            return  # an address not (yet) listed counts once put_cluster lists it
        self.sites[cluster] = site(listed, known)
        if cluster == self.local:
            return  # the local tier is never judged by health
        self._changed = True  # its pinned names answer other gateways
        for host in self._hosts_in(cluster):
            self._touch(host, cluster)

    def set_complete(self, complete: bool) -> None:
        """False takes effect at once; True once a commit has compiled every pending name.

        So the names of a cluster that just synced are in the zone before a missing name
        answers NXDOMAIN again (a budgeted commit may take several turns).
        """
        self._complete = complete
        if not complete:
            self.zone.set_complete(False)

    def note_time(self, changed: float) -> None:
        self._source_time = changed

    def put_instance(self, cluster: str, key: str, instance: Instance | None) -> None:
        old_host = self._where[cluster].pop(key, None)
        # Interned: the host is a key in several maps, and the same in every cluster.
        new_host = sys.intern(instance.host.lower().strip(".")) if instance is not None else None
        # What the cluster answered for each host before, to see whether their ports change.
        was = self._merged[old_host][cluster] if old_host is not None else None
        if new_host is not None and new_host != old_host:
            known = self._merged.get(new_host)
            was_new = known.get(cluster) if known is not None else None
        else:
            was_new = was
        if old_host is not None:
            keys = self._instances[old_host][cluster]
            del keys[key]
            if not keys and old_host != new_host:
                del self._instances[old_host][cluster]
                del self._merged[old_host][cluster]
                self._dirty_hosts[old_host] = None  # its set of clusters changed
            elif keys:
                self._merged[old_host][cluster] = _merge(keys)
            self._touch(old_host, cluster)
        if instance is not None and new_host is not None:
            # A cluster new to the host: its claims grow at commit (`_reclaim_host`).
            keys = self._instances[new_host].setdefault(cluster, {})
            keys[key] = instance
            self._merged[new_host][cluster] = _merge(keys)
            self._where[cluster][key] = new_host
            self._touch(new_host, cluster)
        if old_host is not None and old_host != new_host:
            self._ports_changed(old_host, was, self._merged[old_host].get(cluster))
        if new_host is not None:
            self._ports_changed(new_host, was_new, self._merged[new_host][cluster])

    def _ports_changed(self, host: str, before: Instance | None, after: Instance | None) -> None:
        """Forget a host's ports when what one cluster answers for it names other ports.

        They stand when a cluster joins with none or the very same (wherever it sorts, each
        port's first holder names it alike): re-sorting every cluster per join made a sync
        quadratic. Any other change, an object added beside another included, forgets them.
        """
        old = before.ports if before is not None else ()
        new = after.ports if after is not None else ()
        if old is not new and old != new and not (before is None and new == self._ports.get(host)):
            self._ports.pop(host, None)

    def _hosts_in(self, cluster: str) -> set[str]:
        """The hosts a cluster runs: what its objects (`_where`) name."""
        return set(self._where.get(cluster, {}).values())

    def _host_ports(self, host: str) -> tuple[Port, ...]:
        """A service's ports, the local cluster's first: one number per port name and protocol."""
        ports = self._ports.get(host)
        if ports is None:
            ports = self._ports[host] = self._ports_of(self._merged.get(host, {}))
        return ports

    def _ports_of(self, instances: dict[str, Instance]) -> tuple[Port, ...]:
        """The ports of these clusters' instances, the local cluster's first, then by name."""
        order = sorted(instances, key=lambda cluster: (cluster != self.local, cluster))
        return _unique_ports(p for c in order for p in instances[c].ports)

    def put_entry(self, cluster: str, key: str, entry: Entry | None) -> None:
        old = self._entries.pop((cluster, key), None)
        if old is not None:
            self._dirty_entries.update(old.hosts)
        if entry is not None:
            self._entries[(cluster, key)] = entry
            self._dirty_entries.update(entry.hosts)

    def commit(self, budget: float | None = None) -> bool:
        """Recompile what the changes touched; with a `budget` (seconds), stop once it is spent.

        Returns whether everything is compiled; if not, call again (e.g. on the next loop turn)
        to go on. Each name is swapped in whole, so a partial commit never blanks a name.
        """
        for host, touched in self._dirty_hosts.items():
            self._dirty_names |= self._guarded(host, self._reclaim_host, host, touched) or set()
        for host in self._dirty_entries:
            key = host.lower().strip(".")
            self._dirty_names |= self._guarded(key, self._reclaim_entry, key) or set()
        self._dirty_hosts.clear()
        self._dirty_entries.clear()
        deadline = None if budget is None else time.perf_counter() + budget
        while self._dirty_names:
            name = self._dirty_names.pop()
            self._guarded(name, self._compile, name)
            if deadline is not None and time.perf_counter() > deadline:
                break
        if not self._dirty_names:
            self._dirty_names = set()  # a set emptied by pop() stays slow to pop from
            self.zone.set_complete(self._complete)
            if self._changed:
                self._new_serial()
        self.commits += 1
        return not self._dirty_names

    def _new_serial(self) -> None:
        """The SOA serial after a change (RFC 1982: it always increases): the second the data
        changed by the source's clock (a mesh file's mtime, so replicas reading one file
        agree), else by ours, the second the change was compiled (Kubernetes watches and
        gateway probes carry no time of their own); the last serial plus one when that second
        is not ahead of it (two changes within one second)."""
        changed = self._source_time if self._source_time is not None else time.time()
        self.zone.set_serial(serial_after(self.zone.serial, changed))
        self._changed = False
        self._source_time = None

    @property
    def pending(self) -> int:
        """Names whose recompilation a budgeted commit left for later."""
        return len(self._dirty_names)

    # -- reading --------------------------------------------------------------------------
    def views(self) -> Iterator[NameView]:
        """Every name, sorted (unexplained: `lookup` explains one)."""
        for name in sorted(self.names()):
            view = self.view(name)
            if view is not None:
                yield view

    def names(self) -> list[str]:
        """Every claimed name, unsorted: a copy (one C-level call, cheap at any size) that the
        caller may keep and read a slice at a time while the table changes."""
        return list(self._claims)

    def view(self, name: str) -> NameView | None:
        """One name of `names()` as `views()` shows it; None when it is not in the zone (or no
        longer claimed)."""
        return self._current(name, explain=False) if self._listed(name) else None

    def lookup(self, name: str) -> NameView | None:
        """One name, explained: any case, with or without the zone and the trailing dot.

        An SRV name (`_http._tcp.foo`) finds the name it points at.
        """
        listed = self._listed
        wanted = name.lower().rstrip(".")
        zone = self.config.zone.lower()
        if wanted.endswith("." + zone) and not listed(wanted):
            wanted = wanted[: -len(zone) - 1]
        labels = wanted.split(".")
        if not listed(wanted) and len(labels) > 2 and labels[0][:1] == labels[1][:1] == "_":
            wanted = ".".join(labels[2:])
        if listed(wanted):
            return self._current(wanted, explain=True)
        unserved = self.unserved.get(wanted)
        if unserved is None:
            return None
        claim = unserved.claim
        scope = (claim.scope,) if claim.kind in _PINNED else ()
        return NameView(
            wanted, claim.kind, Tier.NXDOMAIN, scope, (), (), f"not served: {unserved.why}", ()
        )

    def _listed(self, name: str) -> bool:
        """In the zone as of the last commit, or a pinned name compiled when asked for."""
        return name in self._compiled or self._deferred(name)

    def _current(self, name: str, explain: bool) -> NameView | None:
        """The stored view; worked out now from the same claims and state when it is deferred
        or wanted with contributions (the stored one stays when that finds nothing)."""
        view = self._views.get(name)
        if view is not None and not explain:
            return view
        claims = self._claims.get(name)
        worked = self._view(name, claims[0], explain) if claims else None
        return worked if worked is not None else view

    @property
    def size(self) -> int:
        """Names claimed: cheap to read at every scrape; a pinned name that nothing can answer
        (its cluster lists no gateway address) counts, though it answers NXDOMAIN."""
        return len(self._claims)

    # -- claims ---------------------------------------------------------------------------
    def _touch(self, host: str, cluster: str) -> None:
        touched = self._dirty_hosts.get(host, set())
        if touched is not None:
            touched.add(cluster)
            self._dirty_hosts[host] = touched

    def _region(self, cluster: str) -> str | None:
        known = self.clusters.get(cluster)
        return known.region if known is not None else None

    def _pins(self, host: str, cluster: str) -> list[tuple[str, Claim]]:
        """The pinned names `host` claims through one cluster: that cluster's, its region's.

        One that cannot exist in DNS (its first label over 63 bytes, say) is never held
        (`_hold`): `host` itself still answers.
        """
        pins = [(pinned(host, cluster), Claim(ClaimKind.CLUSTER_PIN, host, cluster))]
        region = self._region(cluster)
        if region:
            pins.append((pinned(host, region), Claim(ClaimKind.REGION_PIN, host, region)))
        return pins

    def _reclaim_host(self, host: str, touched: set[str] | None) -> set[str]:
        """Update the names `host` claims; return the names whose answers may have changed."""
        by_cluster = self._instances.get(host)
        had = self._claims_of_host[host]
        if touched is not None and by_cluster and had:
            # No cluster left and no region moved: the claims stand, but a touched cluster may
            # be new to the host. Only its pinned names are added, so a first sync costs the
            # same per cluster however many clusters already run the host.
            changed = {host} | {pinned(host, c) for c in touched}
            for cluster in touched & by_cluster.keys():
                for name, claim in self._pins(host, cluster):
                    changed.add(name)
                    if (name, claim) not in had:
                        had.add((name, claim))
                        self._hold(name, claim, True)
            return changed
        wanted: set[tuple[str, Claim]] = set()
        if by_cluster:
            wanted.add((host, Claim(ClaimKind.SERVICE, host)))
            for cluster in by_cluster:
                wanted.update(self._pins(host, cluster))
        else:
            self._instances.pop(host, None)
            self._merged.pop(host, None)
            self._ports.pop(host, None)
        changed = {name for name, _ in had ^ wanted}
        for name, claim in had - wanted:
            self._hold(name, claim, False)
        for name, claim in wanted - had:
            self._hold(name, claim, True)
        if wanted:
            self._claims_of_host[host] = wanted
        else:
            del self._claims_of_host[host]
        if touched is None:
            return changed | {name for name, _ in wanted}
        regions = {self._region(c) for c in touched}
        return changed | {
            name
            for name, claim in wanted
            if claim.kind == ClaimKind.SERVICE
            or (claim.kind == ClaimKind.CLUSTER_PIN and claim.scope in touched)
            or (claim.kind == ClaimKind.REGION_PIN and claim.scope in regions)
        }

    def _hold(self, name: str, claim: Claim, held: bool) -> None:
        """Add or drop one claim on a name; a tuple, as a name rarely has more than one."""
        claims = self._claims.get(name, ())
        if held and claim not in claims:
            problem = unfit(f"{name}.{self.config.zone}")
            if problem is not None:
                self._unserved(name, claim, *problem)
                return
            if not claims:
                # The responder may remember NXDOMAIN for a name nobody held; a pinned name
                # now claimed is not put in the zone (compiled on its first query), so no
                # zone write would empty that memory. New names are rare; changes are not.
                self.zone.memo.forget()
            self._claims[name] = tuple(sorted((*claims, claim)))
        elif not held and claim in claims:
            rest = tuple(c for c in claims if c != claim)
            if rest:
                self._claims[name] = rest
            else:
                del self._claims[name]

    def _unserved(self, name: str, claim: Claim, reason: Unfit, why: str) -> None:
        """A claim on a name DNS cannot carry: never held or compiled; logged and counted once
        per name, and kept for `table NAME` to explain."""
        if name in self.unserved:
            return
        self.unserved[name] = Unserved(claim, reason, why)
        self.skipped[reason] += 1
        log.warning(
            "%s.%s (%s) is not served: %s",
            name,
            self.config.zone,
            _describe(claim),
            why,
            extra={"service": claim.host, "scope": claim.scope, "reason": reason.label},
        )

    def _vips(self, entry: Entry) -> tuple[str, ...]:
        """An entry's addresses; one given none answers --default-address (istiocoredns's)."""
        return entry.addresses or self.config.default_addresses

    def _skip(self, entry: Entry) -> Unfit | None:
        """Why an entry names nothing (istiocoredns's rules), or None when it names its hosts."""
        if entry.skipped is None and not self._vips(entry):
            return Unfit.NO_ADDRESS
        return entry.skipped

    def _named(self, entry: Entry) -> bool:
        return self._skip(entry) is None

    def _reclaim_entry(self, host: str) -> set[str]:
        """Held while a named entry lists the host; else, when skipped ones do, the first (by
        cluster and key) is what `table NAME` explains."""
        claim = Claim(ClaimKind.ENTRY, host)
        held = sorted(
            ((w, e) for w, e in self._entries.items() if host in _lower_hosts(e)),
            key=lambda item: item[0],
        )
        named = any(self._named(e) for _, e in held)
        self._hold(host, claim, named)
        reason, why = None, ""
        if held and not named:
            (cluster, key), first = held[0]
            reason = self._skip(first)
            if reason is not None:  # always, as none is named
                why = f"ServiceEntry {first.name or key} from {cluster} {_ENTRY_WHYS[reason]}"
        gone = self.unserved.get(host)
        if gone is not None and gone.reason in ENTRY_SKIPS and gone.why != why:
            del self.unserved[host]
        if reason is not None:
            self._unserved(host, claim, reason, why)
        return {host}

    # -- compiling ------------------------------------------------------------------------
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

    def _compile(self, name: str, defer: bool = True) -> None:
        """Work out the name's answer first, then swap it in whole: a failure changes nothing.

        A pinned name (unless `defer` is False) is only dropped from the zone, which asks
        `_on_miss` for it on its next query, so it is compiled when, and if, it is asked for.
        """
        claims = self._claims.get(name)
        view = None
        if claims:
            winner = claims[0]
            if len(claims) > 1:
                self._conflict(name, claims, winner)
            # Asked for and found empty, the responder may remember it as NXDOMAIN (a memo
            # only a zone write empties): compiled now, it writes if it answers.
            if (
                defer
                and winner.kind in _PINNED
                and (
                    self._kept(name, winner)
                    or (not self._shadowed(name) and name not in self._unanswered)
                )
            ):
                return
            view = self._view(name, winner)
        else:
            self._claims.pop(name, None)
        if view is not None or not claims:
            self._unanswered.discard(name)  # it answers now, or nobody holds it
        old = self._views.get(name)
        if view is not None and old is not None and _same_answers(view, old):
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
        if view is not None and old is not None and _same_answers(view, old):
            self._views[name] = view
            return True
        self._swap(name, {})
        return False

    def _swap(self, name: str, nodes: dict[bytes, Node]) -> None:
        """Put the name's nodes in the zone in place of what it put before."""
        self._changed = self._changed or bool(nodes) or name in self._compiled
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
        claims = self._claims.get(name)
        if not claims:
            return False
        return claims[0].kind in _PINNED and name not in self._compiled

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
                failures, changed = self.internal_errors, self._changed
                self._guarded(name, self._compile, name, False)
                self._changed = changed  # compiled late, not changed: the serial stays
                if self.internal_errors != failures:  # a bug, logged and counted: no answer
                    return {NODATA: zone.compiler.servfail()}
                node = dict.get(zone.names, owner)
                if node is None:
                    self._unanswered.add(name)
                return node
            if name in self._claims and name not in self._compiled:
                self._unanswered.add(name)
            if skip == len(labels) - 1 or not labels[skip].startswith("_"):
                break
        return None

    def _nodes(self, name: str, view: NameView) -> dict[bytes, Node]:
        return self.zone.compiler.name_nodes(name, view.groups, view.ports, view.answer_tier)

    def _narrowed(self, claim: Claim) -> tuple[dict[str, Instance], Scope | None]:
        """The instances a service claim answers from, and what a pinned one is narrowed to."""
        merged = self._merged.get(claim.host, {})
        if claim.kind == ClaimKind.CLUSTER_PIN:
            instances = {claim.scope: merged[claim.scope]} if claim.scope in merged else {}
            return instances, Scope("cluster", claim.scope)
        if claim.kind == ClaimKind.REGION_PIN:
            region = self._regions.get(claim.scope, set())
            return {c: i for c, i in merged.items() if c in region}, Scope("region", claim.scope)
        return merged, None

    def _claim_ports(self, claim: Claim, instances: dict[str, Instance]) -> tuple[Port, ...]:
        """A pinned name answers for its cluster or region only: the ports those name."""
        if claim.kind == ClaimKind.SERVICE:
            return self._host_ports(claim.host)
        return self._ports_of(instances)

    def _view(self, name: str, claim: Claim, explain: bool = False) -> NameView | None:
        if claim.kind == ClaimKind.ENTRY:
            # In (cluster, key) order, so the first port of a name never depends on arrival.
            held = [(where, e) for where, e in self._entries.items() if name in _lower_hosts(e)]
            entries = [e for _, e in sorted(held, key=lambda item: item[0]) if self._named(e)]
            addresses = tuple(sorted({a for e in entries for a in self._vips(e)}))
            ports = _unique_ports(p for e in entries for p in e.ports)
            origin = sorted({c for (c, _), e in held if e in entries})
            return NameView(
                name,
                ClaimKind.ENTRY,
                Tier.ENTRY,
                tuple(origin),
                addresses,
                ports,
                "ServiceEntry addresses",
                (addresses,),
            )
        instances, scope = self._narrowed(claim)
        resolution = resolve(instances, self.sites, self.local, scope, explain)
        if resolution is None:
            return None
        return _service_view(name, claim.kind, resolution, self._claim_ports(claim, instances))

    def _conflict(self, name: str, claims: tuple[Claim, ...], winner: Claim) -> None:
        """Counted and logged once per name; the winner is `min(claims)` (see `claims`)."""
        if name in self._conflicts_logged:
            return
        self._conflicts_logged.add(name)
        self.conflicts += 1
        losers = ", ".join(_describe(claim) for claim in sorted(claims) if claim != winner)
        log.warning(
            "name %s.%s is claimed %d ways; %s wins over %s",
            name,
            self.config.zone,
            len(claims),
            _describe(winner),
            losers,
            extra={"fqdn": f"{name}.{self.config.zone}."},
        )


def _relative_labels(owner: bytes, zone_length: int) -> list[str]:
    """The labels of a wire owner in front of the zone's (its last `zone_length` bytes)."""
    labels = []
    i = 0
    while i < len(owner) - zone_length:
        length = owner[i]
        labels.append(owner[i + 1 : i + 1 + length].decode("ascii", "backslashreplace"))
        i += length + 1
    return labels


def _describe(claim: Claim) -> str:
    if claim.kind in (ClaimKind.CLUSTER_PIN, ClaimKind.REGION_PIN):
        return f"{claim.host} {claim.kind.label} to {claim.scope}"
    return f"{claim.kind.label} {claim.host}"


def _service_view(
    name: str, kind: ClaimKind, resolution: Resolution, ports: tuple[Port, ...]
) -> NameView:
    return NameView(
        name=name,
        kind=kind,
        tier=resolution.tier,
        clusters=resolution.clusters,
        addresses=resolution.addresses,
        ports=ports,
        reason=resolution.reason,
        groups=resolution.groups,
        contributions=resolution.contributions,
    )


def _same_answers(a: NameView, b: NameView) -> bool:
    """Whether two views compile to the same answers (their explanations may differ)."""
    return (a.groups, a.ports, a.answer_tier) == (b.groups, b.ports, b.answer_tier)


def _judgement(health: GatewayHealth | None) -> tuple[bool, str]:
    """What of a probe result the answers and reasons depend on."""
    return (True, "") if health is None or health.up else (False, health.error)


def _merge(keys: dict[str, Instance]) -> Instance:
    """Several objects of one cluster that name the same host answer together."""
    if len(keys) == 1:
        return next(iter(keys.values()))
    ordered = [keys[key] for key in sorted(keys)]
    return Instance(
        host=ordered[0].host,
        addresses=tuple(dict.fromkeys(a for i in ordered for a in i.addresses)),
        ready=sum(i.ready for i in ordered),
        ports=_unique_ports(p for i in ordered for p in i.ports),
    )


def _unique_ports(ports: Iterator[Port] | list[Port]) -> tuple[Port, ...]:
    """The first port of each (name, protocol), so a port name means one number per answer."""
    seen: dict[tuple[str, str], Port] = {}
    for port in ports:
        seen.setdefault((port.name, port.protocol.upper()), port)
    return tuple(seen.values())


_ENTRY_WHYS = {
    Unfit.RESOLUTION_NONE: "has resolution NONE (its sidecar forwards to the address dialled; "
    "istiocoredns named none)",
    Unfit.NO_ADDRESS: "has no addresses and no --default-address is set",
    Unfit.WIDE_CIDR: "has only CIDR addresses wider than one address (no single VIP)",
}


def _lower_hosts(entry: Entry) -> set[str]:
    return {host.lower().strip(".") for host in entry.hosts}
