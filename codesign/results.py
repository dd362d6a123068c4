"""Reading a store back as a table.

>>> import tempfile, os, io
>>> from codesign.sweep.spec import parse_spec
>>> from codesign.sweep.runner import run_sweep
>>> spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"},
...                    "mechanism": {"name": "analytic-walk", "guest": {"levels": [4, 5]}}})
>>> path = os.path.join(tempfile.mkdtemp(), "t.sqlite")
>>> _ = run_sweep(spec, path, executor="serial", stream=io.StringIO())
>>> df = load_results(path)
>>> df.sort_values("guest.levels")[["guest.levels", "walk.refs_per_walk"]].to_dict("records")
[{'guest.levels': 4, 'walk.refs_per_walk': 24.0}, {'guest.levels': 5, 'walk.refs_per_walk': 29.0}]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codesign.sweep.store import Store

if TYPE_CHECKING:
    import pandas as pd

FIXED = ("key", "status", "workload", "mechanism", "platform")
TRAILING = ("error", "wall_s", "toolkit_version", "finished_at")


def stored_rows(store: str | Path) -> list[dict[str, Any]]:
    """Every point of a store as a plain dict (InputError if it is not a store)."""
    with Store.open_readonly(store) as s:
        return list(s.rows())


def load_results(store: str | Path) -> pd.DataFrame:
    """A pandas DataFrame with one row per design point and one column per parameter and
    metric (dotted names), after the columns key, status, workload, mechanism, platform."""
    import pandas as pd

    rows = stored_rows(store)
    params = sorted({k for r in rows for k in r["params"]})
    metrics = sorted({k for r in rows for k in r["metrics"]})
    clash = set(params) | set(FIXED) | set(TRAILING)
    names = {m: (f"metric:{m}" if m in clash else m) for m in metrics}
    records = []
    for r in rows:
        record = {k: r[k] for k in FIXED}
        record.update(r["params"])
        record.update({names[m]: v for m, v in r["metrics"].items()})
        record.update({k: r[k] for k in TRAILING})
        records.append(record)
    columns = [*FIXED, *params, *(names[m] for m in metrics), *TRAILING]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for column in (*params, *(names[m] for m in metrics)):
        values = [r.get(column) for r in records]
        present = [v for v in values if v is not None]
        if (len(present) < len(values) and present
                and all(isinstance(v, int) and not isinstance(v, bool)
                        and -2**63 <= v < 2**63 for v in present)):
            # pandas stores a whole-number column with gaps as floats (2 -> 2.0 in the CSV);
            # its nullable integer type keeps the numbers as they were stored.
            frame[column] = pd.array(values, dtype="Int64")
    return frame


def results_json(store: str | Path) -> str:
    """Every point as a JSON list of ``{key, status, error, params, metrics, wall_s}``;
    ``params`` holds the names (workload, mechanism, platform) and the dotted parameters."""
    out = []
    for r in stored_rows(store):
        names = {k: r[k] for k in ("workload", "mechanism", "platform")}
        out.append({"key": r["key"], "status": r["status"], "error": r["error"],
                    "params": {**names, **r["params"]}, "metrics": r["metrics"],
                    "wall_s": r["wall_s"]})
    return json.dumps(out, indent=1)
