"""Metrics: validation, JSON round trip, union, trap and cycle totals, latency percentiles."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.metrics import Metrics, cycles, latency, percentile, traps

FAST = settings(derandomize=True, max_examples=80, deadline=None)

segment = st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True)
name = st.lists(segment, min_size=1, max_size=4).map(".".join)
number = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)


# --- JSON round trip ------------------------------------------------------------------------

@given(st.dictionaries(name, number, max_size=12))
@FAST
def test_json_round_trip_keeps_ints_ints_and_floats_exact(data: dict) -> None:
    m = Metrics(data)
    back = Metrics.from_json(m.to_json())
    assert back == m
    assert list(back) == sorted(data)
    for key, value in data.items():
        assert type(back[key]) is type(value)
        if isinstance(value, float):
            assert math.copysign(1.0, back[key]) == math.copysign(1.0, value)
        assert back[key] == value


def test_json_is_compact_and_sorted() -> None:
    m = Metrics({"walks": 3, "cycles.total": 0.1, "a_b": -2})
    assert m.to_json() == '{"a_b":-2,"cycles.total":0.1,"walks":3}'
    assert json.loads(m.to_json()) == {"a_b": -2, "cycles.total": 0.1, "walks": 3}


def test_numpy_scalars_become_plain_python_numbers() -> None:
    m = Metrics({"a": np.int64(7), "b": np.float32(0.5), "c": np.uint8(255)})
    assert (m["a"], m["b"], m["c"]) == (7, 0.5, 255)
    assert (type(m["a"]), type(m["b"]), type(m["c"])) == (int, float, int)
    assert Metrics.from_json(m.to_json()) == m


# --- rejection ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["Bad Name", "", ".a", "a.", "a..b", "Walks", "a-b", "a b",
                                 "walks\n", "a.b\n", 5, None])
def test_bad_names_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError) as info:
        Metrics({bad: 1})
    assert str(info.value) == f"metric name {bad!r} is not dotted lower_case"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), np.float64("nan"),
                                   np.float32("inf")])
def test_non_finite_values_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match=r"^metric 'cycles\.total' is not finite: "):
        Metrics({"cycles.total": value})


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_booleans_are_rejected(value: object) -> None:
    with pytest.raises(ValueError) as info:
        Metrics({"walks": value})
    assert str(info.value) == "metric 'walks': a number is expected, not a boolean"


@pytest.mark.parametrize(("value", "kind"), [("1", "str"), (None, "NoneType"), ([1], "list"),
                                             (1j, "complex")])
def test_non_numbers_are_rejected(value: object, kind: str) -> None:
    with pytest.raises(ValueError) as info:
        Metrics({"walks": value})
    assert str(info.value) == f"metric 'walks': a number is expected, got {kind}"


def test_metrics_are_immutable_and_hashable() -> None:
    m = Metrics({"walks": 1})
    with pytest.raises(TypeError):
        m["walks"] = 2  # type: ignore[index]
    with pytest.raises(AttributeError):
        m.other = 1  # type: ignore[attr-defined]
    assert hash(m) == hash(Metrics({"walks": 1}))
    assert len({m, Metrics({"walks": 1}), Metrics({"walks": 2})}) == 2


# --- union ----------------------------------------------------------------------------------

def test_union_joins_disjoint_metrics() -> None:
    a, b = Metrics({"walks": 2}), Metrics({"cycles.total": 5.0})
    joined = a | b | {"traps.total": 0}
    assert dict(joined) == {"cycles.total": 5.0, "traps.total": 0, "walks": 2}
    assert isinstance(joined, Metrics)
    assert dict(a) == {"walks": 2}


def test_union_refuses_overlaps() -> None:
    a = Metrics({"walks": 2, "cycles.total": 1, "x": 0})
    with pytest.raises(ValueError) as info:
        a | Metrics({"x": 0, "walks": 3, "y": 1})
    assert str(info.value) == "metrics defined twice: ['walks', 'x']"
    with pytest.raises(ValueError, match=r"\['cycles\.total'\]"):
        a | {"cycles.total": 1}


# --- traps and cycles -----------------------------------------------------------------------

counts = st.dictionaries(st.sampled_from(["vmexit.cr3_write", "vmexit.page_fault",
                                          "vmexit.ept_violation", "hypercall.mmu_update",
                                          "hypercall.grant_copy", "pf_bounce"]),
                         st.integers(min_value=0, max_value=10**9), max_size=6)


@given(counts)
@FAST
def test_traps_total_is_the_sum_by_reason(c: dict) -> None:
    m = traps(c)
    assert m["traps.total"] == sum(c.values())
    assert type(m["traps.total"]) is int
    assert m.traps_by_reason() == c
    assert len(m) == len(c) + 1


def test_traps_with_another_prefix() -> None:
    m = traps({"vmexit.hlt": 2, "vmexit.io": 3}, prefix="traps.guest")
    assert dict(m) == {"traps.guest.total": 5, "traps.guest.vmexit.hlt": 2,
                       "traps.guest.vmexit.io": 3}


@given(st.dictionaries(st.sampled_from(["walk.guest", "walk.nested", "trap", "copy", "tlb.fill"]),
                       st.one_of(st.integers(min_value=0, max_value=10**12),
                                 st.floats(min_value=0, max_value=1e12)),
                       max_size=5))
@FAST
def test_cycles_total_is_the_sum_by_category(c: dict) -> None:
    m = cycles(c)
    assert m["cycles.total"] == sum(c.values())
    assert m.group("cycles") == {**c, "total": sum(c.values())}
    assert m.cycles_breakdown() == c


def test_cycles_breakdown_leaves_out_total_and_per_unit_rates() -> None:
    m = cycles({"walk.guest": 800, "walk.nested": 4000}) | {"cycles.per_walk": 48.0, "walks": 100}
    assert m["cycles.total"] == 4800
    assert m.cycles_breakdown() == {"walk.guest": 800, "walk.nested": 4000}


def test_cycles_breakdown_keeps_categories_whose_names_merely_contain_per() -> None:
    # "upper_levels" (agile paging's shadowed upper levels) and "wrapper" are categories,
    # not per-unit rates like "per_walk".
    c = {"walk.upper_levels": 300, "wrapper_overhead": 20, "walk.leaf": 100}
    m = cycles(c) | {"cycles.per_walk": 4.2}
    assert m.cycles_breakdown() == c


# --- percentiles and latency ----------------------------------------------------------------

def inverted_cdf(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Exact reference: the smallest value with at least q% of the total weight at or below."""
    order = np.argsort(values, kind="stable")
    total = int(weights.sum())
    target = Fraction(q).limit_denominator(10**6) * total / 100
    running = 0
    for i in order:
        running += int(weights[i])
        if running >= target and running > 0:
            return float(values[i])
    raise AssertionError("unreachable")


samples = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32),
                   min_size=1, max_size=60)
quantiles = st.one_of(st.integers(min_value=0, max_value=100),
                      st.sampled_from([0.1, 2.5, 12.5, 33.3, 66.6, 97.5, 99.9]))


@given(samples, quantiles)
@FAST
def test_percentile_matches_numpy_inverted_cdf(xs: list, q: float) -> None:
    values = np.array(xs)
    expected = float(np.percentile(values, q, method="inverted_cdf"))
    assert percentile(values, q) == expected


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=50),
                          st.integers(min_value=1, max_value=30)), min_size=1, max_size=20),
       quantiles)
@FAST
def test_weighted_percentile_equals_expanding_into_samples(pairs: list, q: float) -> None:
    values = np.array([float(v) for v, _ in pairs])
    weights = np.array([w for _, w in pairs])
    expanded = np.repeat(values, weights)
    expected = float(np.percentile(expanded, q, method="inverted_cdf"))
    assert percentile(values, q, weights=weights) == expected
    assert percentile(expanded, q) == expected
    assert inverted_cdf(values, weights, q) == expected  # the reference used below agrees


@given(samples)
@FAST
def test_latency_summary_of_samples(xs: list) -> None:
    values = np.array(xs)
    m = latency(values, "us")
    assert list(m) == ["latency.mean_us", "latency.p50_us", "latency.p99_us"]
    assert m["latency.mean_us"] == pytest.approx(float(np.mean(values)), rel=1e-9, abs=1e-6)
    assert m["latency.p50_us"] == float(np.percentile(values, 50, method="inverted_cdf"))
    assert m["latency.p99_us"] == float(np.percentile(values, 99, method="inverted_cdf"))


@given(st.lists(st.tuples(st.integers(min_value=1, max_value=100),
                          st.integers(min_value=1, max_value=1000)), min_size=1, max_size=10))
@FAST
def test_latency_with_weights_equals_latency_of_expanded_samples(pairs: list) -> None:
    values = np.array([float(v) for v, _ in pairs])
    weights = np.array([w for _, w in pairs])
    weighted = latency(values, "refs", weights=weights, prefix="walk_latency")
    plain = latency(np.repeat(values, weights), "refs", prefix="walk_latency")
    assert weighted["walk_latency.p50_refs"] == plain["walk_latency.p50_refs"]
    assert weighted["walk_latency.p99_refs"] == plain["walk_latency.p99_refs"]
    assert weighted["walk_latency.mean_refs"] == pytest.approx(plain["walk_latency.mean_refs"])


def test_percentile_examples() -> None:
    assert percentile(np.array([4.0, 1.0, 3.0, 2.0]), 50) == 2.0
    assert percentile(np.array([4.0, 1.0, 3.0, 2.0]), 50.1) == 3.0
    assert percentile(np.array([4.0, 1.0, 3.0, 2.0]), 0) == 1.0
    assert percentile(np.array([4.0, 1.0, 3.0, 2.0]), 100) == 4.0
    assert percentile(np.array([10.0, 20.0]), 98, weights=np.array([98, 2])) == 10.0
    assert percentile(np.array([10.0, 20.0]), 99, weights=np.array([98, 2])) == 20.0
    with pytest.raises(ValueError, match="empty distribution"):
        percentile(np.array([]), 50)


@pytest.mark.parametrize(("values", "weights"), [
    # 98,999,999 of 99,999,999 walks is 98.99999999...% < 99%: p99 is the next value.
    ([1.0, 2.0], [98_999_999, 1_000_000]),
    ([4.0, 24.0], [9_900_098, 100_001]),
    ([19.0, 24.0, 35.0], [10_000_000, 88_999_999, 1_000_000]),
])
def test_weighted_percentile_is_exact_for_large_counts(values: list, weights: list) -> None:
    # Histograms of up to 10^8 walks (workload.walks allows it) go through these weights.
    v, w = np.array(values), np.array(weights)
    for q in (50, 99):
        assert percentile(v, q, weights=w) == inverted_cdf(v, w, q), q


def test_every_metric_the_mechanisms_report_has_a_unit_where_one_applies() -> None:
    """Metric metadata is declared once (codesign.metrics.info): the NIC and MMU headline
    names have units and directions, and plots and tables label them so."""
    from codesign.metrics import info, with_unit

    for name, unit, better in [("throughput.gbps", "Gb/s", "higher"),
                               ("throughput.wire_gbps", "Gb/s", "higher"),
                               ("throughput.pps", "frames/s", "higher"),
                               ("latency.p99_us", "µs", "lower"),
                               ("cycles_per_packet.guest", "cycles/frame", "lower"),
                               ("cycles_per_ref", "cycles/reference", "lower"),
                               ("cycles.kernel.data", "cycles", "lower"),
                               ("traps.vmexit.eoi", "traps", "lower"),
                               ("hw.nic.area_mm2", "mm²", "lower"),
                               ("tlb.l2.misses", "misses", "lower"),
                               ("cpu.utilization.dd0", "fraction busy", "")]:
        meta = info(name)
        assert meta is not None and (meta.unit, meta.better) == (unit, better), name
    assert with_unit("drops") == "drops (frames)" and info("walks") is None
