"""Results that are pure functions of their inputs, computed once per installation.

A block's area and timing (PyRTL builds and analyses its netlist: seconds to a minute) and
a workload's native reference run (what ``slowdown_vs_native`` divides by) depend only on
their inputs and on the toolkit's code. They are kept as small JSON files (never pickles) in
``$CODESIGN_CACHE/results`` (``~/.cache/codesign/results``), named by the SHA-256 of:

- a kind (``hw-cost``, ``native``),
- the inputs, canonical JSON (``repr`` of frozen dataclasses for parameter objects),
- the digest of the toolkit's own source (every ``.py`` file of ``codesign``, ``hwmodels``
  and ``workloads``), so that any change of a model makes old entries unreachable instead of
  wrong: no version number has to be remembered.

An entry is checked before it is used (its stored key and the SHA-256 of its value); one
that fails is removed and recomputed. Entries are written atomically (a temporary file
renamed), so concurrent workers computing the same entry both succeed. A process keeps the
entries it used in memory too.

>>> import os, tempfile
>>> os.environ["CODESIGN_CACHE"] = tempfile.mkdtemp()
>>> calls = []
>>> def area():
...     calls.append(1); return {"area_mm2": 0.25}
>>> cached("demo", {"entries": 64}, area), cached("demo", {"entries": 64}, area), len(calls)
({'area_mm2': 0.25}, {'area_mm2': 0.25}, 1)
>>> _MEMORY.clear(); cached("demo", {"entries": 64}, area), len(calls)  # from the file
({'area_mm2': 0.25}, 1)
>>> del os.environ["CODESIGN_CACHE"]; _MEMORY.clear()
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workloads.filecache import cache_dir

ROOTS = ("codesign", "hwmodels", "workloads")
"""The packages whose source decides every result."""
_MEMORY: OrderedDict[str, Any] = OrderedDict()
"""The entries this process used last, at most :data:`MEMORY_ENTRIES` (a long sweep in one
process would otherwise keep every one it computed); the others are read from their files."""
MEMORY_ENTRIES = 4096
OFF_ENV = "CODESIGN_NO_RESULT_CACHE"
"""Set (to anything but empty) to compute every time: for measuring the computation."""


@functools.cache
def source_digest() -> str:
    """SHA-256 of the toolkit's source files (paths and bytes), once per process."""
    top = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for root in ROOTS:
        for path in sorted((top / root).rglob("*.py")):
            h.update(str(path.relative_to(top)).encode())
            h.update(b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def entry_key(kind: str, inputs: Any) -> str:
    """The name of the entry of ``kind`` for ``inputs`` (JSON-able) under this source.

    >>> entry_key("demo", [1, 2]) == entry_key("demo", [1, 2]) != entry_key("demo", [2, 1])
    True
    """
    text = json.dumps([kind, source_digest(), inputs], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _checksum(key: str, value: Any) -> str:
    text = json.dumps([key, value], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cached(kind: str, inputs: Any, compute: Callable[[], Any]) -> Any:
    """``compute()`` (a JSON-able value: numbers, strings, lists, dicts) for ``inputs``,
    from the cache when this source computed it before. Floats come back exactly (JSON keeps
    their shortest round-trip text)."""
    if os.environ.get(OFF_ENV):
        return compute()
    key = entry_key(kind, inputs)
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    path = cache_dir() / "results" / kind / f"{key}.json"
    value = _load(path, key)
    if value is None:
        value = compute()
        _store(path, key, value)
        # What is kept is what a later process reads: the JSON round trip (a tuple comes
        # back as a list), so that the first run and a cached one return the same.
        value = json.loads(json.dumps(value))
    _remember(key, value)
    return value


def cached_many(kind: str, inputs: list[Any],
                compute: Callable[[list[int]], list[Any]]) -> list[Any]:
    """:func:`cached` of several entries at once: ``compute(missing)`` gives the values of
    the inputs (by index) that no cache holds, in one call (a pass that computes several
    entries together), and each is stored as :func:`cached` would.

    >>> import os, tempfile
    >>> os.environ["CODESIGN_CACHE"] = tempfile.mkdtemp()
    >>> asked = []
    >>> def squares(xs):
    ...     def compute(missing):
    ...         asked.append([xs[i] for i in missing]); return [xs[i] ** 2 for i in missing]
    ...     return cached_many("demo-sq", xs, compute)
    >>> squares([0, 1, 2]), squares([2, 3]), asked
    ([0, 1, 4], [4, 9], [[0, 1, 2], [3]])
    >>> del os.environ["CODESIGN_CACHE"]; _MEMORY.clear()
    """
    if os.environ.get(OFF_ENV):
        return compute(list(range(len(inputs))))
    keys = [entry_key(kind, x) for x in inputs]
    paths = [cache_dir() / "results" / kind / f"{key}.json" for key in keys]
    out: list[Any] = []
    missing = []
    for i, (key, path) in enumerate(zip(keys, paths, strict=True)):
        value = _MEMORY[key] if key in _MEMORY else _load(path, key)
        if value is None:
            missing.append(i)
        out.append(value)
    if missing:
        for i, value in zip(missing, compute(missing), strict=True):
            _store(paths[i], keys[i], value)
            out[i] = json.loads(json.dumps(value))
    for key, value in zip(keys, out, strict=True):
        _remember(key, value)
    return out


def _remember(key: str, value: Any) -> None:
    _MEMORY[key] = value
    _MEMORY.move_to_end(key)
    while len(_MEMORY) > MEMORY_ENTRIES:
        _MEMORY.popitem(last=False)


def _load(path: Path, key: str) -> Any:
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = (isinstance(entry, dict) and entry.get("key") == key and "value" in entry
          and entry.get("checksum") == _checksum(key, entry["value"]))
    if not ok:  # damaged or edited: not to be trusted, compute again
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return entry["value"]


def _store(path: Path, key: str, value: Any) -> None:
    """Write the entry atomically; a cache that cannot be written is no error."""
    entry = {"key": key, "value": value, "checksum": _checksum(key, value)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)
