"""A NIC data path as a graph of stages bound to resources, and its bottleneck-law throughput.

A :class:`DataPath` lists the stages one packet goes through, in order (guest driver,
hypervisor, driver domain, bridge, NIC, DMA, the wire ...). Each :class:`Stage` does
``per_packet + per_byte x frame_bytes`` units of work on one :class:`Resource`: cycles of a
core (of a named domain: ``host``, ``guest``, ``driver_domain``, ``hypervisor``), cycles of
the NIC's clock, or bit times of the link. A resource serves ``hz`` units per second, one
packet at a time. The link is a resource like the others: its stage costs
``8 x (frame + 20)`` bit times (:func:`wire_stage`), so the line rate ``rate / (8 x (frame +
20))`` (RFC 5180) is the link's capacity.

**Bottleneck law.** With one server per resource, a resource whose stages demand ``D``
seconds per packet can serve at most ``1 / D`` packets per second; the path's saturation
throughput is the minimum over its resources (:func:`saturation_pps`), and never above the
line rate of the mean frame.

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

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np

from workloads.packets.frames import OVERHEAD, line_rate_pps

KINDS = ("core", "nic", "link")
DOMAINS = ("host", "guest", "driver_domain", "hypervisor")


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

    >>> s = Stage("copy", Resource("cpu0", "core", 1e9, domain="host"), 100, per_byte=0.5)
    >>> s.units(64), s.seconds(64)
    (132.0, 1.32e-07)
    """

    name: str
    resource: Resource
    per_packet: float
    per_byte: float = 0.0
    capacity: int = 0

    def __post_init__(self) -> None:
        if self.per_packet < 0 or self.per_byte < 0:
            raise ValueError(f"stage {self.name!r}: costs must be >= 0")
        if self.capacity < 0:
            raise ValueError(f"stage {self.name!r}: capacity must be >= 0 (0: unbounded)")

    def units(self, frame_bytes: float | np.ndarray) -> float | np.ndarray:
        """Work for a frame of ``frame_bytes`` (cycles or bit times)."""
        return self.per_packet + self.per_byte * frame_bytes

    def seconds(self, frame_bytes: float | np.ndarray) -> float | np.ndarray:
        """Service time for a frame of ``frame_bytes``."""
        return self.units(frame_bytes) / self.resource.hz


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
    (interrupt moderation): the packet is at that stage from then on (its ``capacity``
    counts it) but starts only when the interrupt is raised.

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
        if self.hold_before is not None and self.hold_before not in names[1:]:
            raise ValueError(f"hold_before must name a stage after the first, "
                             f"got {self.hold_before!r}")

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
        g = nx.DiGraph()
        for r in self.resources():
            g.add_node(r.name, kind="resource", resource_kind=r.kind, hz=r.hz, domain=r.domain)
        for s in self.stages:
            g.add_node(s.name, kind="stage", per_packet=s.per_packet, per_byte=s.per_byte,
                       capacity=s.capacity, resource=s.resource.name,
                       hold=s.name == self.hold_before)
        for a, b in zip(self.stages, self.stages[1:], strict=False):
            g.add_edge(a.name, b.name, kind="flow")
        for s in self.stages:
            g.add_edge(s.name, s.resource.name, kind="uses")
        return g


def demand(graph: nx.DiGraph, frame_bytes: float) -> dict[str, float]:
    """Seconds of each resource one packet of ``frame_bytes`` needs, read from the graph.

    >>> cpu = Resource("cpu0", "core", 1e9, domain="host")
    >>> demand(DataPath((Stage("a", cpu, 100), Stage("b", cpu, 200))).graph(), 64)
    {'cpu0': 3e-07}
    """
    out: dict[str, float] = {}
    for _, d in graph.nodes(data=True):
        if d["kind"] != "stage":
            continue
        hz = graph.nodes[d["resource"]]["hz"]
        units = d["per_packet"] + d["per_byte"] * frame_bytes
        out[d["resource"]] = out.get(d["resource"], 0.0) + units / hz
    return out


def _graph_of(path: DataPath | nx.DiGraph) -> nx.DiGraph:
    return path.graph() if isinstance(path, DataPath) else path


def saturation_pps(path: DataPath | nx.DiGraph, frame_bytes: float,
                   link_gbps: float | None = None, cap_line_rate: bool = True) -> float:
    """Bottleneck-law throughput: min over resources of 1 / demand, in packets per second.

    ``frame_bytes`` is the mean frame. The result is also capped at the line rate of
    ``link_gbps`` (default: the graph's link resource, if it has one) unless
    ``cap_line_rate`` is false.
    """
    g = _graph_of(path)
    need = demand(g, frame_bytes)
    pps = min((1.0 / d for d in need.values() if d > 0), default=float("inf"))
    if cap_line_rate:
        rates = [d["hz"] for _, d in g.nodes(data=True)
                 if d["kind"] == "resource" and d["resource_kind"] == "link"]
        if link_gbps is not None:
            rates.append(link_gbps * 1e9)
        for hz in rates:
            pps = min(pps, line_rate_pps(hz / 1e9, frame_bytes))
    return pps


def bottleneck(path: DataPath | nx.DiGraph, frame_bytes: float) -> str:
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
