"""``analytic-walk`` through the harness: the walk lengths of shared/ANCHORS.md and their cost."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from codesign.errors import InputError
from codesign.harness import Point, evaluate, resolve
from codesign.metrics import Metrics
from codesign.params import build
from workloads.walks import WalksParams, generate

WALKS = 1000
FRACTION = {"4K": {}, "2M": {"workload.huge_2m_fraction": 1.0},
            "1G": {"workload.huge_1g_fraction": 1.0}}


def point(platform: str = "kvm-nehalem", **params) -> Point:
    return Point("walks", "analytic-walk", platform, {"workload.walks": WALKS, **params})


def run(platform: str = "kvm-nehalem", **params) -> Metrics:
    return evaluate(point(platform, **params))


def nested(guest: int, host: int, guest_page: str = "4K", host_page: str = "4K",
           **extra) -> dict:
    return {"virtualized": True, "guest.levels": guest, "host.levels": host,
            "host.page_size": host_page, **FRACTION[guest_page], **extra}


# --- walk lengths ---------------------------------------------------------------------------

@pytest.mark.parametrize("levels", [4, 5])
def test_native_walk_reads_one_entry_per_level(levels: int) -> None:
    m = run(**{"virtualized": False, "guest.levels": levels})
    assert m["walks"] == WALKS
    assert m["walk.refs_per_walk"] == levels
    assert m["walk.refs"] == m["walk.refs.guest"] == levels * WALKS
    assert m["walk.refs.nested"] == 0


@pytest.mark.parametrize(("guest", "host", "guest_page", "host_page", "refs"), [
    (4, 4, "4K", "4K", 24),  # Gandhi et al., MICRO 2014
    (5, 5, "4K", "4K", 35),
    (5, 4, "4K", "4K", 29),
    (4, 4, "2M", "4K", 19),  # guest 2 MiB on host 4 KiB
    (4, 4, "4K", "2M", 19),  # and the reverse
    (4, 4, "2M", "2M", 15),
    (4, 4, "1G", "1G", 8),
])
def test_2d_walk_lengths_of_the_anchors(guest: int, host: int, guest_page: str,
                                        host_page: str, refs: int) -> None:
    m = run(**nested(guest, host, guest_page, host_page))
    assert m["walk.refs_per_walk"] == refs
    assert m["walk.refs"] == refs * WALKS
    assert type(m["walk.refs"]) is int


@pytest.mark.parametrize(("guest", "host", "guest_page", "host_page", "guest_refs"), [
    (4, 4, "4K", "4K", 4), (5, 4, "4K", "4K", 5), (4, 4, "2M", "4K", 3),
    (4, 4, "4K", "2M", 4), (4, 4, "1G", "1G", 2), (5, 5, "1G", "2M", 3),
])
def test_guest_and_nested_split(guest: int, host: int, guest_page: str, host_page: str,
                                guest_refs: int) -> None:
    # The guest dimension reads one entry per guest level it walks; every other reference
    # is the nested dimension translating guest-physical addresses.
    m = run(**nested(guest, host, guest_page, host_page))
    host_refs = host - {"4K": 0, "2M": 1, "1G": 2}[host_page]
    total = (guest_refs + 1) * (host_refs + 1) - 1
    assert m["walk.refs.guest"] == guest_refs * WALKS
    assert m["walk.refs.nested"] == (total - guest_refs) * WALKS
    assert m["walk.refs.nested"] == (guest_refs + 1) * host_refs * WALKS
    assert m["walk.refs"] == m["walk.refs.guest"] + m["walk.refs.nested"]


def test_every_valid_combination_follows_the_formula() -> None:
    skip = {"4K": 0, "2M": 1, "1G": 2}
    checked = 0
    for g, h, gp, hp in itertools.product(range(2, 6), range(2, 6), skip, skip):
        if g - skip[gp] < 1 or h - skip[hp] < 1 or (gp == "1G" and g < 3):
            continue
        m = run(**{**nested(g, h, gp, hp), "workload.walks": 7})
        n_g, n_h = g - skip[gp], h - skip[hp]
        assert m["walk.refs_per_walk"] == (n_g + 1) * (n_h + 1) - 1, (g, h, gp, hp)
        assert m["walk.refs.guest"] == 7 * n_g
        checked += 1
    assert checked == 121


# --- cycles ---------------------------------------------------------------------------------

@pytest.mark.parametrize("platform", ["kvm-nehalem", "kvm-svm"])
def test_cycles_are_references_times_memory_latency(platform: str) -> None:
    m = run(platform, **nested(4, 4))
    assert m["cycles.total"] == 24 * 200 * WALKS
    assert m["cycles.per_walk"] == 24 * 200
    assert m["cycles.walk.guest"] == 4 * 200 * WALKS
    assert m["cycles.walk.nested"] == 20 * 200 * WALKS
    assert (m["latency.mean_cycles"], m["latency.p50_cycles"], m["latency.p99_cycles"]) == (
        4800.0, 4800.0, 4800.0)


@pytest.mark.parametrize("latency", [0, 1, 150, 333.5])
def test_a_memory_latency_override_scales_every_cycle_count(latency: float) -> None:
    m = run(**nested(5, 4), **{"platform.memory.latency": latency})
    assert m["walk.refs_per_walk"] == 29
    assert m["cycles.total"] == 29 * latency * WALKS
    assert m["cycles.per_walk"] == 29 * latency
    assert m["cycles.walk.guest"] == 5 * latency * WALKS
    assert m["latency.p99_cycles"] == 29 * latency


def test_a_user_profile_sets_the_memory_latency(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text(
        'schema = 1\nname = "lab"\n[costs]\n'
        '"memory.latency" = { value = 90, unit = "cycles", source = "measured" }\n')
    m = evaluate(Point("walks", "analytic-walk", "lab.toml",
                       {"workload.walks": WALKS, "virtualized": False}, base=str(tmp_path)))
    assert m["cycles.per_walk"] == 4 * 90


def test_a_profile_without_memory_latency_is_refused_before_running(tmp_path: Path) -> None:
    (tmp_path / "bare.toml").write_text(
        'schema = 1\nname = "bare"\n[costs]\n'
        '"vmexit.roundtrip" = { value = 1, unit = "cycles", source = "s" }\n')
    with pytest.raises(InputError) as info:
        resolve(Point("walks", "analytic-walk", "bare.toml", {}, base=str(tmp_path)))
    assert str(info.value) == (f"platform 'bare' ({tmp_path / 'bare.toml'}) lacks cost(s) "
                               "memory.latency needed by mechanism 'analytic-walk'")


# --- mixed page sizes -----------------------------------------------------------------------

def counts(**params) -> np.ndarray:
    wp = build(WalksParams, {"workload.walks": WALKS, **params})
    return np.bincount(generate(wp), minlength=3)


@pytest.mark.parametrize(("fractions", "p50_refs", "p99_refs"), [
    # 4K on 4K host: 24 refs; 2M: 19; 1G: 14 (n_g = 2 on a 4-level host).
    ({"workload.huge_2m_fraction": 0.7}, 19, 24),
    ({"workload.huge_2m_fraction": 0.3}, 24, 24),
    ({"workload.huge_2m_fraction": 0.3, "workload.huge_1g_fraction": 0.6}, 14, 24),
    ({"workload.huge_2m_fraction": 0.985, "workload.huge_1g_fraction": 0.01}, 19, 19),
])
def test_mixed_page_sizes_p50_and_p99_come_from_the_right_classes(
        fractions: dict, p50_refs: int, p99_refs: int) -> None:
    m = run(**nested(4, 4), **fractions)
    c = counts(**fractions)
    assert c.sum() == WALKS
    refs = np.array([24, 19, 14])
    assert m["walk.refs"] == int(c @ refs)
    assert m["walk.refs.guest"] == int(c @ np.array([4, 3, 2]))
    assert m["latency.p50_cycles"] == p50_refs * 200
    assert m["latency.p99_cycles"] == p99_refs * 200
    assert m["latency.mean_cycles"] == pytest.approx(float(c @ refs) * 200 / WALKS)
    assert m["cycles.per_walk"] == pytest.approx(m["latency.mean_cycles"])


def test_mixed_workload_is_deterministic_per_seed_and_differs_across_seeds() -> None:
    mix = {**nested(4, 4), "workload.huge_2m_fraction": 0.5, "workload.huge_1g_fraction": 0.2}
    first = run(**mix, **{"workload.seed": 3})
    assert run(**mix, **{"workload.seed": 3}) == first
    others = {run(**mix, **{"workload.seed": s})["walk.refs"] for s in (4, 5, 6)}
    assert first["walk.refs"] not in others
    assert len(others) == 3
    c = counts(**{k: v for k, v in mix.items() if k.startswith("workload.")},
               **{"workload.seed": 3})
    assert first["walk.refs"] == int(c @ np.array([24, 19, 14]))


# --- invalid combinations -------------------------------------------------------------------

@pytest.mark.parametrize(("params", "message"), [
    ({"host.page_size": "1G", "host.levels": 2},
     "host.page_size=1G needs host.levels >= 3, got 2"),
    ({"host.page_size": "2M", "host.levels": 1},
     "host.levels: expected an integer from 2 to 5, got 1"),
    ({"workload.huge_1g_fraction": 0.5, "guest.levels": 2},
     "1 GiB guest pages need guest.levels >= 3, got 2"),
    ({"workload.huge_2m_fraction": 0.5, "workload.huge_1g_fraction": 0.6},
     "workload.huge_2m_fraction + workload.huge_1g_fraction must be <= 1, got 0.5 + 0.6"),
    ({"host.page_size": "4M"}, "host.page_size: expected one of '4K', '2M', '1G', got '4M'"),
    ({"guest.level": 4}, "unknown parameter 'guest.level'; did you mean 'guest.levels'?"),
])
def test_invalid_combinations_are_one_line_input_errors(params: dict, message: str) -> None:
    with pytest.raises(InputError) as info:
        run(**{"virtualized": True, **params})
    assert str(info.value) == message


def test_invalid_combinations_carry_the_origin() -> None:
    with pytest.raises(InputError) as info:
        resolve(point(**{"host.page_size": "1G", "host.levels": 2}), origin="spec.toml: point 3")
    assert str(info.value) == ("spec.toml: point 3: host.page_size=1G needs host.levels >= 3, "
                               "got 2")


def test_native_points_ignore_host_settings_that_would_be_invalid_nested() -> None:
    m = run(**{"virtualized": False, "host.page_size": "1G", "host.levels": 2})
    assert m["walk.refs_per_walk"] == 4


def test_native_walk_with_huge_guest_pages() -> None:
    m = run(**{"virtualized": False, "workload.huge_1g_fraction": 1.0})
    assert m["walk.refs_per_walk"] == 2


# --- canonical keys -------------------------------------------------------------------------

def key(platform: str = "kvm-nehalem", **params) -> str:
    return resolve(point(platform, **params)).key


def test_native_key_does_not_depend_on_host_parameters() -> None:
    native = {"virtualized": False, "guest.levels": 5}
    keys = {key(**native, **{"host.levels": h, "host.page_size": p})
            for h in (3, 4, 5) for p in ("4K", "2M", "1G")}
    assert keys == {key(**native)}
    assert resolve(point(**native, **{"host.levels": 5})).params == {
        "workload.walks": WALKS, "workload.huge_2m_fraction": 0.0,
        "workload.huge_1g_fraction": 0.0, "workload.seed": 1,
        "virtualized": False, "guest.levels": 5}


def test_nested_key_depends_on_host_parameters() -> None:
    keys = {key(**nested(4, h, host_page=p)) for h in (3, 4, 5) for p in ("4K", "2M")}
    assert len(keys) == 6


def test_key_does_not_depend_on_dict_order_or_spelling_of_values() -> None:
    params = {"workload.walks": WALKS, "virtualized": True, "guest.levels": 5,
              "host.levels": 4, "platform.memory.latency": 150, "workload.seed": 9}
    forward = resolve(Point("walks", "analytic-walk", "kvm-nehalem", params)).key
    backward = resolve(Point("walks", "analytic-walk", "kvm-nehalem",
                             dict(reversed(list(params.items()))))).key
    assert forward == backward
    spelled = {**params, "guest.levels": "5", "host.levels": 4.0, "virtualized": "true",
               "platform.memory.latency": 150.0}
    assert resolve(Point("walks", "analytic-walk", "kvm-nehalem", spelled)).key == forward


def test_key_changes_with_a_platform_cost_override() -> None:
    base = key(**nested(4, 4))
    assert key(**nested(4, 4), **{"platform.memory.latency": 150}) != base
    assert key(**nested(4, 4), **{"platform.memory.latency": 150}) != key(
        **nested(4, 4), **{"platform.memory.latency": 151})
    # costs the mechanism does not read are not part of its points' keys
    assert key(**nested(4, 4), **{"platform.vmexit.roundtrip": 1}) == base
    assert key("kvm-svm", **nested(4, 4)) == base  # the same memory.latency
    assert key("modern-x86", **nested(4, 4)) != base


def test_key_changes_with_the_workload() -> None:
    base = key(**nested(4, 4))
    assert key(**nested(4, 4), **{"workload.seed": 2}) != base
    assert key(**nested(4, 4), **{"workload.walks": WALKS + 1}) != base
    r = resolve(point(**nested(4, 4)))
    assert r.workload_key != r.key
    assert resolve(point(**nested(5, 5))).workload_key == r.workload_key
