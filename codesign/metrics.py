"""Metrics: the one result shape every mechanism returns.

A :class:`Metrics` is an immutable flat mapping of dotted names to numbers, e.g.
``traps.vmexit.cr3_write``, ``cycles.total``, ``latency.p99_us``. Any two mechanisms can be
compared by the same report because they return the same shape (names in
ARCHITECTURE.md's vocabulary). Helpers build the common groups consistently: trap counts by
reason with their total, cycle breakdowns with their total, and latency summaries (mean,
p50, p99) from a distribution.

>>> m = Metrics({"walks": 10}) | traps({"vmexit.cr3_write": 3, "hypercall.mmu_update": 2})
>>> m["traps.total"], m.traps_by_reason()
(5, {'hypercall.mmu_update': 2, 'vmexit.cr3_write': 3})
>>> Metrics.from_json(m.to_json()) == m
True
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Number = int | float

_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


class Metrics(Mapping[str, Number]):
    """Immutable mapping of dotted metric names to finite numbers.

    >>> Metrics({"cycles.total": 12.5})["cycles.total"]
    12.5
    >>> Metrics({"Bad Name": 1})
    Traceback (most recent call last):
    ValueError: metric name 'Bad Name' is not dotted lower_case
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        clean: dict[str, Number] = {}
        for name, value in (data or {}).items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ValueError(f"metric name {name!r} is not dotted lower_case")
            clean[name] = _number(name, value)
        self._data = dict(sorted(clean.items()))

    def __getitem__(self, name: str) -> Number:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Metrics({self._data!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Metrics):
            return self._data == other._data
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __or__(self, other: Mapping[str, Any]) -> Metrics:
        """Union; a name present on both sides is an error (no silent overwrite)."""
        clash = set(self._data) & set(other)
        if clash:
            raise ValueError(f"metrics defined twice: {sorted(clash)}")
        return Metrics({**self._data, **dict(other)})

    def group(self, prefix: str) -> dict[str, Number]:
        """The metrics under ``prefix.`` with the prefix removed.

        >>> Metrics({"cycles.walk": 3, "cycles.total": 3, "walks": 1}).group("cycles")
        {'total': 3, 'walk': 3}
        """
        head = prefix + "."
        return {k[len(head):]: v for k, v in self._data.items() if k.startswith(head)}

    def traps_by_reason(self) -> dict[str, Number]:
        """Trap counts keyed ``kind.reason`` (``vmexit.cr3_write``), without the total."""
        return {k: v for k, v in self.group("traps").items() if k != "total"}

    def cycles_breakdown(self) -> dict[str, Number]:
        """Cycles by category (``cycles.<category>``), without the total, per-unit rates
        and the sub-categories of a category that is itself reported.

        >>> Metrics({"cycles.traps": 5, "cycles.traps.vmexit.io": 5, "cycles.base": 1,
        ...          "cycles.total": 6}).cycles_breakdown()
        {'base': 1, 'traps': 5}
        """
        return top_level({k: v for k, v in self.group("cycles").items()
                          if k != "total" and not k.startswith("per_")})

    def to_json(self) -> str:
        """Compact JSON; floats keep their exact value through a round trip."""
        return json.dumps(self._data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Metrics:
        """Inverse of :meth:`to_json`."""
        return cls(json.loads(text))


def _number(name: str, value: Any) -> Number:
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"metric {name!r}: a number is expected, not a boolean")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"metric {name!r} is not finite: {value}")
        return value
    raise ValueError(f"metric {name!r}: a number is expected, got {type(value).__name__}")


def top_level(parts: Mapping[str, Number]) -> dict[str, Number]:
    """The dotted names of ``parts`` none of whose prefixes is itself a name in ``parts``:
    the categories of a breakdown whose sub-categories are also reported.

    >>> top_level({"traps": 5, "traps.vmexit.io": 5, "os.fault": 2})
    {'traps': 5, 'os.fault': 2}
    """
    def covered(name: str) -> bool:
        segments = name.split(".")
        return any(".".join(segments[:i]) in parts for i in range(1, len(segments)))

    return {k: v for k, v in parts.items() if not covered(k)}


def with_total(parts: Mapping[str, Number], prefix: str) -> Metrics:
    """``<prefix>.<part>`` for each part plus ``<prefix>.total``, their sum.

    >>> dict(with_total({"a": 1, "b.c": 2}, "x"))
    {'x.a': 1, 'x.b.c': 2, 'x.total': 3}
    """
    out = {f"{prefix}.{part}": n for part, n in parts.items()}
    out[f"{prefix}.total"] = sum(parts.values())
    return Metrics(out)


def traps(counts: Mapping[str, Number], prefix: str = "traps") -> Metrics:
    """Trap counts by ``kind.reason`` plus their ``traps.total``.

    >>> dict(traps({"vmexit.page_fault": 4, "pf_bounce": 1}))
    {'traps.pf_bounce': 1, 'traps.total': 5, 'traps.vmexit.page_fault': 4}
    """
    return with_total(counts, prefix)


def cycles(breakdown: Mapping[str, Number], prefix: str = "cycles") -> Metrics:
    """Cycles by category plus their ``cycles.total``.

    >>> dict(cycles({"walk.guest": 800, "walk.nested": 4000}))
    {'cycles.total': 4800, 'cycles.walk.guest': 800, 'cycles.walk.nested': 4000}
    """
    return with_total(breakdown, prefix)


def percentile(values: np.ndarray, q: float, weights: np.ndarray | None = None) -> float:
    """Nearest-rank percentile (the smallest value with at least q% of the mass at or below).

    Nearest rank returns a value that occurs in the data, which is what a latency report
    means by "p99", and it accepts weights so that a histogram (values, counts) needs no
    expansion into samples.

    >>> percentile(np.array([1.0, 2.0, 3.0, 4.0]), 50)
    2.0
    >>> percentile(np.array([10.0, 20.0]), 99, weights=np.array([98, 2]))
    20.0
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("percentile of an empty distribution")
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(w[order])
    # cum * 100 >= q * total, compared without dividing: exact for integer counts below
    # 2**53 / 100, where a relative tolerance would misplace p99 of large histograms.
    index = int(np.searchsorted(cum * 100.0, q * cum[-1], side="left"))
    return float(values[order][min(index, values.size - 1)])


def latency(
    values: np.ndarray,
    unit: str,
    weights: np.ndarray | None = None,
    prefix: str = "latency",
) -> Metrics:
    """``latency.mean_<unit>``, ``latency.p50_<unit>``, ``latency.p99_<unit>`` of a distribution.

    ``values`` are samples, or distinct values with ``weights`` (their counts).

    >>> dict(latency(np.array([4.0, 24.0]), "refs", weights=np.array([3, 1])))
    {'latency.mean_refs': 9.0, 'latency.p50_refs': 4.0, 'latency.p99_refs': 24.0}
    """
    values = np.asarray(values, dtype=np.float64)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    mean = float(np.dot(values, w) / w.sum())
    return Metrics({
        f"{prefix}.mean_{unit}": mean,
        f"{prefix}.p50_{unit}": percentile(values, 50, w),
        f"{prefix}.p99_{unit}": percentile(values, 99, w),
    })


@dataclass(frozen=True)
class MetricInfo:
    """What a metric's numbers are: ``unit`` and which way is ``better`` (``"lower"``,
    ``"higher"`` or ``""`` when neither: a count of frames offered, a utilization)."""

    unit: str
    better: str = "lower"


_INFO: tuple[tuple[re.Pattern[str], MetricInfo], ...] = tuple(
    (re.compile(pattern), info) for pattern, info in (
        (r"throughput\.(rx_|tx_)?pps$", MetricInfo("frames/s", "higher")),
        (r"throughput\.\w*gbps$", MetricInfo("Gb/s", "higher")),
        (r"throughput\.refs_per_s$", MetricInfo("references/s", "higher")),
        (r"latency\.\w+_us$", MetricInfo("µs")),
        (r"latency\.\w+_ns$", MetricInfo("ns")),
        (r"latency\.\w+_cycles$", MetricInfo("cycles")),
        (r"cycles_per_packet(\.\w+)?$", MetricInfo("cycles/frame")),
        (r"cycles(_per_ref|\.per_ref)$", MetricInfo("cycles/reference")),
        (r"cycles\.per_walk$", MetricInfo("cycles/walk")),
        (r"cycles(\.[\w.]+)?$", MetricInfo("cycles")),
        (r"slowdown_vs_native$", MetricInfo("x native")),
        (r"migration\.total_s$", MetricInfo("s")),
        (r"migration\.downtime_ms$", MetricInfo("ms")),
        (r"migration\.rounds$", MetricInfo("rounds", "")),
        (r"migration\.bytes_sent$", MetricInfo("bytes")),
        (r"migration\.(pages_sent|memory_pages|dirty_pages|device_pages|table_pages|"
         r"pages_skipped)$",
         MetricInfo("pages", "")),
        (r"migration\.guest_slowdown$", MetricInfo("x without logging")),
        (r"migration\.(base|logged)_cycles_per_ref$", MetricInfo("cycles/reference")),
        (r"migration\.writes_per_s$", MetricInfo("writes/s", "")),
        (r"migration\.split_(s|cpu_s)$", MetricInfo("s")),
        (r"migration\.fault_wait_ms$", MetricInfo("ms")),
        (r"migration\.split_faults$", MetricInfo("traps")),
        (r"traps\.[\w.]+$", MetricInfo("traps")),
        (r"drops$", MetricInfo("frames")),
        (r"packets$", MetricInfo("frames", "")),
        (r"hw\.[\w.]*area_mm2$", MetricInfo("mm²")),
        (r"hw\.[\w.]*fmax_mhz$", MetricInfo("MHz", "higher")),
        (r"cpu\.utilization\.\w+$", MetricInfo("fraction busy", "")),
        (r"interrupts(\.\w+)?$", MetricInfo("interrupts")),
        (r"iommu\.walk_refs$", MetricInfo("references")),
        (r"walk\.refs_per_walk$", MetricInfo("references/walk")),
        (r"[\w.]*misses$", MetricInfo("misses")),
    ))
"""Metric metadata, declared once: the first pattern a name matches gives its unit and
direction; tables, plots and the HTML read it through :func:`info`."""


RATES = (("refs", "per_kref", 1000.0, "per 1,000 references"),
         ("packets", "per_frame", 1.0, "per frame"))
"""How a count is normalized, in order of preference: by the references a memory point
replays (per 1,000), or by the frames a network point carries; (basis metric, suffix of
the rate's name, scale, unit suffix)."""
COUNT_UNITS = ("traps", "misses", "interrupts")
"""Units of the counts a report also shows as rates (drops are shown as a share already)."""


def is_count(name: str) -> bool:
    """Whether a metric is an event count that compares across points only as a rate.

    >>> is_count("traps.total"), is_count("iotlb.misses"), is_count("cycles.total")
    (True, True, False)
    """
    meta = info(name)
    return meta is not None and meta.unit in COUNT_UNITS


def is_rate(name: str) -> bool:
    """Whether a name is a rate :func:`rates` derives (not a count of its own).

    >>> is_rate("traps.vmexit.io.per_frame"), is_rate("cycles.per_ref")
    (True, False)
    """
    return any(name.endswith("." + suffix) for _, suffix, _, _ in RATES)


def rates(metrics: Mapping[str, Number]) -> dict[str, float]:
    """Every count of ``metrics`` as a rate (``traps.total.per_kref``: traps per 1,000
    references; ``interrupts.per_frame``), by the first basis of :data:`RATES` that is there and
    not zero; nothing without one.

    >>> rates({"refs": 2000, "traps.total": 5, "cycles.total": 9})
    {'traps.total.per_kref': 2.5}
    """
    for basis, suffix, scale, _ in RATES:
        n = metrics.get(basis)
        if n:
            return {f"{k}.{suffix}": v * scale / n for k, v in metrics.items() if is_count(k)}
    return {}


def info(name: str) -> MetricInfo | None:
    """The unit and direction of a metric, or None for a name no pattern covers.

    >>> info("latency.p99_us"), info("throughput.gbps").better, info("nonsense")
    (MetricInfo(unit='µs', better='lower'), 'higher', None)
    >>> info("traps.total.per_kref").unit
    'traps per 1,000 references'
    """
    for _, suffix, _, unit in RATES:
        if name.endswith("." + suffix):
            base = info(name[:-len(suffix) - 1])
            return MetricInfo(f"{base.unit} {unit}", base.better) if base else None
    for pattern, meta in _INFO:
        if pattern.fullmatch(name):
            return meta
    return None


def with_unit(name: str) -> str:
    """``name (unit)`` for an axis or a column, ``name`` without known metadata.

    >>> with_unit("cycles_per_packet"), with_unit("walks")
    ('cycles_per_packet (cycles/frame)', 'walks')
    """
    meta = info(name)
    return f"{name} ({meta.unit})" if meta else name
