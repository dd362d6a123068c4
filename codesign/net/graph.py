"""A NIC data path as a graph of stages bound to resources, and its bottleneck-law throughput.

A :class:`DataPath` lists the stages one packet goes through, in order (guest driver,
hypervisor, driver domain, bridge, NIC, DMA, the wire ...). Each :class:`Stage` does
``per_packet + per_byte x frame_bytes`` units of work on one :class:`Resource`: cycles of a
core (of a named domain: ``host``, ``guest``, ``driver_domain``, ``hypervisor``), cycles of
the NIC's clock, or bit times of the link. A resource serves ``hz`` units per second, one
packet at a time. The link is a resource like the others: its stage costs
``8 x (frame + 20)`` bit times (:func:`wire_stage`), so the line rate ``rate / (8 x (frame +
20))`` (RFC 5180) is the link's capacity.

Work that is not per packet is declared on the stage too, and the queueing simulation
(:mod:`codesign.net.queueing`) decides per packet when it is paid:

- ``per_batch`` every ``batch`` packets served while the resource stays busy (a hypercall
  that carries up to 64 grant copies; ``batch = 0``: once per busy period; with
  ``batch_idle`` false, every ``batch`` packets whether the resource idles or not: a deferred
  IOMMU flush). With ``notify``
  naming a later stage, ``per_batch`` is a *notification* of that stage's consumer, sent at
  most once per batch and only if the consumer drained its queue since the last one
  (notification suppression, as Xen's ``RING_PUSH_..._AND_CHECK_NOTIFY``).
- ``per_irq`` by the packet that carries an interrupt: the first one an interrupt releases at
  the latest hold before the stage, or the one whose notification woke the consumer.
- ``offload`` (``"gro"`` or ``"tso"``) marks a stage that works once per super-frame when
  that offload is on (:meth:`Stage.aggregated`): full-sized segments pay ``per_packet`` once
  per aggregate of up to ``aggregate_bytes`` (64 KiB), which for GRO ends early when the
  resource idles (GRO flushes at the end of its NAPI poll), ``per_byte`` for every segment.
- ``moderation_ns`` makes the stage an interrupt hold of a device *inside* the simulation
  (an emulated NIC): a packet waits for an interrupt raised at most once per interval, unless
  the consumer is already polling (NAPI: it masks the interrupt until its queue is empty).

A stage's cycles count for its resource's domain unless it names another ``domain`` (the
hypervisor's exit handling on a guest's core). ``traps`` names the traps a stage stands for:
``(reason, per, count)`` with ``per`` one of ``packet``, ``batch`` or ``irq``.

**Bottleneck law.** With one server per resource, a resource whose stages demand ``D``
seconds per packet can serve at most ``1 / D`` packets per second; the path's saturation
throughput is the minimum over its resources (:func:`saturation_pps`), and never above the
line rate of the mean frame. At saturation the bottleneck never idles, so its batches are
full: a stage's demand counts ``per_batch / batch`` (an upper bound for a notification;
nothing when ``batch`` is 0). Interrupt costs (``per_irq``) are not in the law: their rate is
the NIC's, not a packet's.

>>> core = Resource("cpu0", "core", 2e9, domain="host")
>>> link = Resource("wire", "link", 10e9)
>>> path = DataPath((wire_stage(link), Stage("driver", core, 400), Stage("stack", core, 600)))
>>> round(saturation_pps(path, 64))           # the core: 2e9 / 1000 cycles
2000000
>>> round(saturation_pps(path, 64, cap_line_rate=False)) == round(2e9 / 1000)
True
>>> bottleneck(path, 64)
'cpu0'
>>> sorted(path.graph().successors("driver"))    # the next stage and its resource
['cpu0', 'stack']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workloads.packets.frames import OVERHEAD, line_rate_pps

if TYPE_CHECKING:  # networkx is imported where a graph is built: not on every CLI start
    import networkx as nx

KINDS = ("core", "nic", "link")
OFFLOADS = (None, "gro", "tso")
"""A stage's ``offload`` mark: its per-packet work is done once per GRO (receive) or TSO
(transmit) aggregate when that offload is on (:meth:`Stage.aggregated`)."""
DOMAINS = ("host", "guest", "driver_domain", "hypervisor")
PER = ("packet", "batch", "irq")


@dataclass(frozen=True)
class Resource:
    """A server: a core of a domain, the NIC, or the link; ``hz`` units of work per second.

    ``hz`` is the clock of a core or of the NIC (cycles/s), or the bit rate of the link
    (bits/s). A core belongs to a ``domain`` (whose cycles ``cycles_per_packet.<domain>``
    counts); the NIC and the link belong to none.

    >>> Resource("cpu0", "core", 0)
    Traceback (most recent call last):
    ValueError: resource 'cpu0': hz must be > 0, got 0
    """

    name: str
    kind: str
    hz: float
    domain: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"resource {self.name!r}: kind must be one of {KINDS}, "
                             f"got {self.kind!r}")
        if not self.hz > 0:
            raise ValueError(f"resource {self.name!r}: hz must be > 0, got {self.hz}")
        if (self.kind == "core") != (self.domain is not None):
            raise ValueError(f"resource {self.name!r}: a core has a domain, nothing else does")
        if self.domain is not None and self.domain not in DOMAINS:
            raise ValueError(f"resource {self.name!r}: domain must be one of {DOMAINS}, "
                             f"got {self.domain!r}")


@dataclass(frozen=True)
class Stage:
    """One step of a packet's path: ``per_packet + per_byte x frame_bytes`` units on a resource.

    ``capacity`` bounds the packets at this stage (waiting or in service; for the stage after
    an interrupt hold, also those held): a packet that finds it full is dropped. 0: unbounded.
    ``bytes_upto`` (when > 0) caps the bytes ``per_byte`` applies to (a 128-byte header copy);
    frames of at most ``only_above`` bytes skip the stage (no work, no batch). The other
    fields are described in the module docstring.

    >>> s = Stage("copy", Resource("cpu0", "core", 1e9, domain="host"), 100, per_byte=0.5)
    >>> s.units(64), s.seconds(64)
    (132.0, 1.32e-07)
    >>> hdr = Stage("hdr", s.resource, 10, per_byte=1.0, bytes_upto=128, only_above=64)
    >>> hdr.units(np.array([64, 100, 1518])).tolist()
    [0.0, 110.0, 138.0]
    """

    name: str
    resource: Resource
    per_packet: float
    per_byte: float = 0.0
    capacity: int = 0
    per_batch: float = 0.0
    batch: int = 0
    batch_idle: bool = True
    notify: str | None = None
    per_irq: float = 0.0
    moderation_ns: float | None = None
    domain: str | None = None
    bytes_upto: int = 0
    only_above: int = 0
    traps: tuple[tuple[str, str, int], ...] = ()
    offload: str | None = None
    aggregate_from: int = 0
    aggregate_bytes: int = 0

    def __post_init__(self) -> None:
        if min(self.per_packet, self.per_byte, self.per_batch, self.per_irq) < 0:
            raise ValueError(f"stage {self.name!r}: costs must be >= 0")
        if self.capacity < 0:
            raise ValueError(f"stage {self.name!r}: capacity must be >= 0 (0: unbounded)")
        if self.batch < 0 or self.bytes_upto < 0 or self.only_above < 0:
            raise ValueError(f"stage {self.name!r}: batch, bytes_upto and only_above "
                             "must be >= 0")
        if not self.batch_idle and (self.batch < 1 or self.notify is not None):
            raise ValueError(f"stage {self.name!r}: a batch that ignores idling needs a size "
                             "and is no notification")
        if self.moderation_ns is not None and not self.moderation_ns >= 0:
            raise ValueError(f"stage {self.name!r}: moderation_ns must be >= 0")
        if self.domain is not None and (self.resource.kind != "core"
                                        or self.domain not in DOMAINS):
            raise ValueError(f"stage {self.name!r}: only a core's stage names a domain, "
                             f"one of {DOMAINS}")
        if self.offload not in OFFLOADS:
            raise ValueError(f"stage {self.name!r}: offload must be one of {OFFLOADS}, "
                             f"got {self.offload!r}")
        if self.aggregate_from < 0 or self.aggregate_bytes < 0 \
                or bool(self.aggregate_from) != bool(self.aggregate_bytes):
            raise ValueError(f"stage {self.name!r}: aggregate_from and aggregate_bytes are "
                             "both > 0 (aggregating) or both 0")
        for reason, per, count in self.traps:
            if per not in PER or count < 1 or not reason.count("."):
                raise ValueError(f"stage {self.name!r}: trap ({reason!r}, {per!r}, {count}) "
                                 f"must be ('kind.reason', one of {PER}, count >= 1)")

    @property
    def owner(self) -> str | None:
        """The domain whose cycles this stage's work counts as (None off a core)."""
        return self.domain or self.resource.domain

    def units(self, frame_bytes: float | np.ndarray) -> float | np.ndarray:
        """Work for a frame of ``frame_bytes`` (cycles or bit times), batches and interrupts
        aside."""
        size = np.asarray(frame_bytes, dtype=np.float64)
        used = np.minimum(size, self.bytes_upto) if self.bytes_upto else size
        work = self.per_packet + self.per_byte * used
        if self.only_above:
            work = np.where(size > self.only_above, work, 0.0)
        return float(work) if work.ndim == 0 else work

    def seconds(self, frame_bytes: float | np.ndarray) -> float | np.ndarray:
        """Service time for a frame of ``frame_bytes``, batches and interrupts aside."""
        return self.units(frame_bytes) / self.resource.hz

    def aggregated(self, from_bytes: int, max_bytes: int) -> Stage:
        """This stage with its offload on: frames of at least ``from_bytes`` (full-sized
        TCP segments) pay ``per_packet`` once per aggregate of up to ``max_bytes`` (GRO's or
        TSO's super-frame), ``per_byte`` each; unchanged without an ``offload`` mark.

        >>> cpu = Resource("cpu0", "core", 1e9, domain="host")
        >>> s = Stage("stack", cpu, 1100, offload="gro").aggregated(1518, 65536)
        >>> round(float(s.saturated_units(1518)), 1), float(s.saturated_units(64))
        (25.5, 1100.0)
        """
        if self.offload is None:
            return self
        from dataclasses import replace

        return replace(self, aggregate_from=from_bytes, aggregate_bytes=max_bytes)

    def saturated_units(self, frame_bytes: float | np.ndarray) -> float | np.ndarray:
        """Work per packet when the resource never idles: full batches and aggregates
        amortized."""
        work = self.units(frame_bytes)
        if self.aggregate_from:
            size = np.asarray(frame_bytes, dtype=np.float64)
            full = size >= self.aggregate_from
            per = self.per_packet * size / self.aggregate_bytes
            work = np.where(full, work - self.per_packet + per, work)
            work = float(work) if work.ndim == 0 else work
        if self.per_batch and self.batch:
            size = np.asarray(frame_bytes, dtype=np.float64)
            share = self.per_batch / self.batch
            work = work + (np.where(size > self.only_above, share, 0.0) if self.only_above
                           else share)
        return work

    def lone_units(self, frame_bytes: float, carries_irq: bool) -> float:
        """Work of a packet alone in the system: it starts every batch (on average one in
        ``batch`` when batches ignore idling) and, after a hold or a notification, carries the
        interrupt."""
        if self.only_above and frame_bytes <= self.only_above:
            return 0.0
        batch = self.per_batch if self.batch_idle else self.per_batch / self.batch
        return float(self.units(frame_bytes)) + batch + (self.per_irq if carries_irq else 0.0)


def wire_stage(link: Resource, name: str = "wire", capacity: int = 0) -> Stage:
    """The link's stage: ``8 x (frame + 20)`` bit times (preamble, SFD and gap included).

    >>> wire_stage(Resource("wire", "link", 10e9)).seconds(64) * 1e9   # ns at 10 GbE
    67.2
    """
    if link.kind != "link":
        raise ValueError(f"wire stage on {link.name!r}, which is not a link")
    return Stage(name, link, 8.0 * OVERHEAD, per_byte=8.0, capacity=capacity)


@dataclass(frozen=True)
class DataPath:
    """The stages of one direction of a mechanism's data path, in the order a packet takes.

    ``hold_before``, when set, names the stage before which completions wait for an interrupt
    of the NIC (interrupt moderation, the times given to the simulation): the packet is at
    that stage from then on (its ``capacity`` counts it) but starts only when the interrupt
    is raised. It may be the first stage (a path that starts where the NIC hands over). A
    stage with ``moderation_ns`` is a hold too, of a device inside the simulation.

    >>> cpu = Resource("cpu0", "core", 1e9, domain="host")
    >>> DataPath((Stage("a", cpu, 1), Stage("a", cpu, 2)))
    Traceback (most recent call last):
    ValueError: stage names must be unique, got ['a', 'a']
    """

    stages: tuple[Stage, ...]
    hold_before: str | None = None

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        if not names:
            raise ValueError("a data path needs at least one stage")
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        by_name: dict[str, Resource] = {}
        for r in self.resources():
            if by_name.setdefault(r.name, r) != r:
                raise ValueError(f"two different resources are called {r.name!r}")
        if self.hold_before is not None and self.hold_before not in names:
            raise ValueError(f"hold_before must name a stage of the path, "
                             f"got {self.hold_before!r}")
        for i, s in enumerate(self.stages):
            if s.notify is not None and s.notify not in names[i + 1:]:
                raise ValueError(f"stage {s.name!r} notifies {s.notify!r}, which is not a "
                                 "later stage of the path")
            if s.moderation_ns is not None and s.name == self.hold_before:
                raise ValueError(f"stage {s.name!r}: a moderated hold cannot also wait for "
                                 "the NIC's interrupts")

    def resources(self) -> tuple[Resource, ...]:
        """The distinct resources, in the order of first use."""
        return tuple(dict.fromkeys(s.resource for s in self.stages))

    def hold_index(self) -> int:
        """Position of the stage after the interrupt hold, -1 without one."""
        if self.hold_before is None:
            return -1
        return [s.name for s in self.stages].index(self.hold_before)

    def graph(self) -> nx.DiGraph:
        """Stage nodes (``kind="stage"``) chained by ``flow`` edges, each with a ``uses`` edge
        to its resource node (``kind="resource"``, with ``hz`` and ``domain``).

        >>> cpu = Resource("cpu0", "core", 1e9, domain="host")
        >>> g = DataPath((Stage("a", cpu, 1), Stage("b", cpu, 2))).graph()
        >>> [(u, v, d["kind"]) for u, v, d in g.edges(data=True)]
        [('a', 'b', 'flow'), ('a', 'cpu0', 'uses'), ('b', 'cpu0', 'uses')]
        """
        return paths_graph([self])

    def lone_ns(self, frame_bytes: float) -> float:
        """Latency (ns) of one packet alone in the system, every hold released by an interrupt
        at once: the sum of its stage times with every batch started and every interrupt
        carried (the low-load latency, moderation delays aside).

        >>> cpu = Resource("cpu0", "core", 1e9, domain="host")
        >>> DataPath((Stage("a", cpu, 10, per_batch=5, batch=4),
        ...           Stage("b", cpu, 20, per_irq=7)), hold_before="b").lone_ns(64)
        42.0
        """
        total = 0.0
        irq = False
        for s in self.stages:
            if s.name == self.hold_before or s.moderation_ns is not None:
                irq = True
            total += s.lone_units(frame_bytes, irq) / s.resource.hz * 1e9
            if s.notify is not None:
                irq = True
        return total


def paths_graph(paths: Sequence[DataPath], shares: Sequence[float] | None = None) -> nx.DiGraph:
    """One graph of several paths: a stage of the same name is one node (so shared).

    Each stage node carries its costs and ``share``, the fraction of packets through it
    (default 1 per path that uses it, i.e. every packet takes every path).
    """
    import networkx as nx

    g = nx.DiGraph()
    g.graph["resources"] = resources = {}
    weights = [1.0] * len(paths) if shares is None else list(shares)
    for path, w in zip(paths, weights, strict=True):
        for r in path.resources():
            if resources.setdefault(r.name, r) != r:
                raise ValueError(f"two different resources are called {r.name!r}")
            g.add_node(r.name, kind="resource", resource_kind=r.kind, hz=r.hz, domain=r.domain)
        for s in path.stages:
            prev = g.nodes[s.name] if s.name in g else {}
            if prev.get("stage") not in (None, s):
                raise ValueError(f"two different stages are called {s.name!r}")
            share = prev.get("share", 0.0) + w
            g.add_node(s.name, kind="stage", per_packet=s.per_packet, per_byte=s.per_byte,
                       capacity=s.capacity, resource=s.resource.name,
                       hold=s.name == path.hold_before or s.moderation_ns is not None,
                       per_batch=s.per_batch, batch=s.batch, batch_idle=s.batch_idle,
                       notify=s.notify,
                       per_irq=s.per_irq, domain=s.owner, stage=s, share=share)
        for a, b in zip(path.stages, path.stages[1:], strict=False):
            g.add_edge(a.name, b.name, kind="flow")
        for s in path.stages:
            g.add_edge(s.name, s.resource.name, kind="uses")
    return g


def demand(graph: nx.DiGraph, frame_bytes: float | np.ndarray) -> dict[str, float]:
    """Seconds of each resource one packet of ``frame_bytes`` needs at saturation, read from
    the graph (an array of sizes: the mean over them; stages weighted by their ``share``).

    >>> cpu = Resource("cpu0", "core", 1e9, domain="host")
    >>> demand(DataPath((Stage("a", cpu, 100), Stage("b", cpu, 200))).graph(), 64)
    {'cpu0': 3e-07}
    """
    out: dict[str, float] = {}
    for _, d in graph.nodes(data=True):
        if d["kind"] != "stage":
            continue
        hz = _resources(graph)[d["resource"]].hz
        units = float(np.mean(d["stage"].saturated_units(frame_bytes))) * d["share"]
        out[d["resource"]] = out.get(d["resource"], 0.0) + units / hz
    return out


def _resources(graph: nx.DiGraph) -> dict[str, Resource]:
    """The graph's resources by name (a stage may share a resource's name: its node then
    carries the stage's attributes)."""
    return graph.graph["resources"]


def _graph_of(path: DataPath | nx.DiGraph) -> nx.DiGraph:
    return path.graph() if isinstance(path, DataPath) else path


def saturation_pps(path: DataPath | nx.DiGraph, frame_bytes: float | np.ndarray,
                   link_gbps: float | None = None, cap_line_rate: bool = True) -> float:
    """Bottleneck-law throughput: min over resources of 1 / demand, in packets per second.

    ``frame_bytes`` is the mean frame, or the frames themselves (an array: the demand is
    averaged over them, and the line rate is that of their mean). The result is also capped
    at the line rate of ``link_gbps`` (default: the graph's link resources, if it has any)
    unless ``cap_line_rate`` is false. A graph of several paths (:func:`paths_graph`) counts
    each stage by its share.
    """
    g = _graph_of(path)
    need = demand(g, frame_bytes)
    pps = min((1.0 / d for d in need.values() if d > 0), default=float("inf"))
    if cap_line_rate:
        mean = float(np.mean(frame_bytes))
        rates = [r.hz for r in _resources(g).values() if r.kind == "link"]
        if link_gbps is not None:
            rates.append(link_gbps * 1e9)
        for hz in rates:
            pps = min(pps, line_rate_pps(hz / 1e9, mean))
    return pps


def bottleneck(path: DataPath | nx.DiGraph, frame_bytes: float | np.ndarray) -> str:
    """The resource with the largest demand per packet (ties: the first in node order)."""
    need = demand(_graph_of(path), frame_bytes)
    return max(need, key=lambda r: need[r])


def combined_saturation_pps(paths: Iterable[tuple[DataPath, float, float]]) -> float:
    """Bottleneck law over several paths sharing resources: ``(path, share, mean frame)``.

    ``share`` is the fraction of packets taking each path; the result is the total packets
    per second at which the busiest resource saturates.

    >>> cpu = Resource("cpu0", "core", 1e9, domain="host")
    >>> rx, tx = DataPath((Stage("rx", cpu, 300),)), DataPath((Stage("tx", cpu, 100),))
    >>> round(combined_saturation_pps([(rx, 0.5, 64), (tx, 0.5, 64)]))
    5000000
    """
    total: dict[str, float] = {}
    for path, share, frame in paths:
        for r, d in demand(path.graph(), frame).items():
            total[r] = total.get(r, 0.0) + share * d
    return min((1.0 / d for d in total.values() if d > 0), default=float("inf"))
