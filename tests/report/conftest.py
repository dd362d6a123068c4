"""A store with known answers: two mechanisms whose costs cross at known points."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from codesign.harness import digest
from codesign.platforms import load_platform
from codesign.sweep.spec import SweepSpec
from codesign.sweep.store import Result, Store

HOSTILE = "<script>alert(1)</script>"
SPEC_TEXT = f'''version = 1
name = "synthetic"
description = "A store with known answers. {HOSTILE}"
[report]
title = "Shadow vs nested {HOSTILE}"
metrics = ["cycles.per_ref", "traps.total"]
objectives = ["cycles.per_ref", "hw.area_mm2"]
x = "pt_writes"
group = "mechanism"
'''


def _metrics(mechanism: str, x: int, cost: int) -> dict[str, float]:
    """shadow: 10 cycles per page-table write per 1000 cycles of exit cost; nested: 30 flat."""
    if mechanism == "shadow":
        per_ref = 10.0 * x * cost / 1000
        traps = {"traps.vmexit.pt_write": 100 * x, "traps.vmexit.cr3_write": 10}
        area = 0.0
    else:
        per_ref = 30.0
        traps = {"traps.vmexit.ept_violation": 5}
        area = 1.0
    total = sum(traps.values())
    return {"cycles.per_ref": per_ref, "cycles.guest": 1000.0, "cycles.hypervisor": per_ref * 100,
            "cycles.total": 1000.0 + per_ref * 100, "hw.area_mm2": area,
            "traps.total": total, **traps,
            **({"cycles.traps.vmexit.pt_write": 100 * x * cost} if mechanism == "shadow" else {})}


@pytest.fixture
def synthetic_store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "synthetic.sqlite")


def make_store(path: Path) -> Path:
    """Write the synthetic store at ``path``."""
    platform = load_platform("kvm-nehalem").to_dict()
    keys = []
    with Store.open(path) as store:
        rows = []
        for mechanism in ("shadow", "nested", HOSTILE):
            for cost in (1000, 2000):
                for x in (1, 2, 3, 4, 5):
                    params = {"pt_writes": x, "platform.vmexit.roundtrip": cost}
                    key = digest([mechanism, params])
                    keys.append(key)
                    if mechanism == HOSTILE:
                        if x == 1 and cost == 1000:  # one failed point, with a hostile name
                            rows.append((Result(key, "failed", None, f"ValueError: {HOSTILE}",
                                                None, 0.0), mechanism, params))
                        continue
                    rows.append((Result(key, "done", _metrics(mechanism, x, cost), None, None,
                                        0.01), mechanism, params))
        spec = SweepSpec("synthetic", "", "synthetic.toml", None, SPEC_TEXT, ())
        store.begin_sweep(spec, "spec-key", [k for k in keys], "serial", 1)
        for result, mechanism, params in rows:
            store.put(result, {"workload": "w", "mechanism": mechanism,
                               "platform": "kvm-nehalem", "params": params})
        store.put_platforms((r.key, "platform-key", platform) for r, _, _ in rows)
    return path


def write_store(path: Path, spec_text: str,
                points: Iterable[tuple[str, str, Mapping[str, Any], Mapping[str, float] | str]],
                *, name: str = "synthetic", spec_path: str = "synthetic.toml",
                keys: Iterable[str] = ()) -> Path:
    """A store of one sweep: (workload, mechanism, params, metrics or an error) per point,
    recorded with ``spec_text`` as ``codesign sweep`` records it; ``keys`` adds points of
    the sweep that have no result (not run yet)."""
    platform = load_platform("kvm-nehalem").to_dict()
    points = list(points)
    with Store.open(path) as store:
        rows = [(digest([w, m, dict(p)]), w, m, p, outcome) for w, m, p, outcome in points]
        spec = SweepSpec(name, "", spec_path, None, spec_text, ())
        store.begin_sweep(spec, "spec-key", [r[0] for r in rows] + list(keys), "serial", 1)
        for key, workload, mechanism, params, outcome in rows:
            result = (Result(key, "failed", None, outcome, None, 0.0) if isinstance(outcome, str)
                      else Result(key, "done", outcome, None, None, 0.01))
            store.put(result, {"workload": workload, "mechanism": mechanism,
                               "platform": "kvm-nehalem", "params": dict(params)})
        store.put_platforms((r[0], "platform-key", platform) for r in rows)
    return path
