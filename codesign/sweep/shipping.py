"""Input files that travel with the work: points for workers that share no filesystem.

A point may name files: a trace or capture (a workload's path parameter), a platform
profile (``platform = "my.toml"``). A Dask worker on another machine cannot open the
driver's paths, so before submitting, the driver reads each file once and replaces its path
in the points by a content reference, ``codesign-input:<sha256><suffixes>``; the bytes go
to the cluster with the work. A worker writes each file it is sent into its own cache
(``$CODESIGN_CACHE/inputs``, named by content, written atomically) and puts those paths
back before it evaluates. Keys do not change: a file's key part is its content's digest,
never its path, and the worker checks the key it computes against the driver's as always.

A file larger than :func:`~codesign.inputfile.stream_limit` (256 MiB: a trace the toolkit
streams rather than holds) is not shipped: its path is made absolute and the workers read
it there, so it must be on a filesystem they share with the driver (a worker that does not
see the same bytes fails the point: its key differs, or the file is missing).

>>> import os, tempfile
>>> from codesign.harness import Point
>>> os.environ["CODESIGN_CACHE"] = tempfile.mkdtemp()
>>> trace = os.path.join(tempfile.mkdtemp(), "t.lackey")
>>> _ = open(trace, "w").write(" L 1000,8\\n")
>>> chunks, files = ship([[("k", Point("lackey", "native", params={"workload.path": trace}))]])
>>> ref = chunks[0][0][1].params["workload.path"]; ref.startswith(REFERENCE), len(files)
(True, 1)
>>> (key, point), = unship(chunks[0], materialize(files))
>>> open(point.params["workload.path"]).read()
' L 1000,8\\n'
>>> del os.environ["CODESIGN_CACHE"]
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from codesign.harness import Point, _path_keys
from codesign.inputfile import check_regular, data_limit, read_bytes, stream_limit
from codesign.platforms import is_path
from codesign.registry import HardwareOptions, Registry, default_registry
from workloads.filecache import cache_dir

REFERENCE = "codesign-input:"
"""What a shipped path becomes in a point: this prefix, the SHA-256 and the suffixes."""
_SUFFIXES = re.compile(r"^(\.[A-Za-z0-9]{1,10}){0,3}$")

Chunk = Sequence[tuple[str, Point]]


def ship(chunks: Sequence[Chunk], registry: Registry | None = None
         ) -> tuple[list[list[tuple[str, Point]]], dict[str, bytes]]:
    """The chunks with every input file's path replaced by a content reference, and the
    files' bytes by reference name (each file read once, however many points name it)."""
    registry = registry or default_registry()
    by_path: dict[str, str] = {}
    files: dict[str, bytes] = {}

    def reference(path: Path, label: str) -> str:
        text = str(path)
        if text not in by_path:
            if check_regular(path, label).st_size > stream_limit():
                # A trace the toolkit streams is not held in memory to be sent either: the
                # workers read it where the driver does (a filesystem they share).
                by_path[text] = str(path.absolute())
            else:
                data = read_bytes(path, limit=data_limit(), label=label)
                suffix = "".join(path.suffixes[-3:])
                name = hashlib.sha256(data).hexdigest() + (suffix if _SUFFIXES.match(suffix)
                                                            else "")
                files[name] = data
                by_path[text] = REFERENCE + name
        return by_path[text]

    out = []
    for chunk in chunks:
        shipped = []
        for key, point in chunk:
            base = Path(point.base) if point.base else Path.cwd()
            keys = _path_keys(registry.workload(point.workload).params)
            mechanism = registry.mechanism(point.mechanism)
            keys |= _path_keys(mechanism.params)
            if mechanism.hardware:
                keys |= _path_keys(HardwareOptions)
            params = dict(point.params)
            for k in keys & params.keys():
                v = params[k]
                if isinstance(v, str) and v and not v.startswith(REFERENCE):
                    params[k] = reference(base / v, f"{k}: {v}")
            platform = point.platform
            if is_path(platform) and not platform.startswith(REFERENCE):
                platform = reference(base / platform, f"platform {platform}")
            shipped.append((key, dataclasses.replace(point, params=params,
                                                     platform=platform)))
        out.append(shipped)
    return out, files


def materialize(files: Mapping[str, bytes]) -> dict[str, Path]:
    """Write each shipped file into this machine's cache (named by its content, so a file
    sent again is not written again); their local paths by reference name."""
    folder = cache_dir() / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, data in files.items():
        path = folder / name
        if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != name[:64]:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        out[name] = path
    return out


def unship(chunk: Chunk, local: Mapping[str, Path]) -> list[tuple[str, Point]]:
    """The chunk with every content reference replaced by the file's local path."""
    def here(v: object) -> object:
        if isinstance(v, str) and v.startswith(REFERENCE):
            return str(local[v[len(REFERENCE):]])
        return v

    return [(key, dataclasses.replace(point, platform=str(here(point.platform)),
                                      params={k: here(v) for k, v in point.params.items()}))
            for key, point in chunk]


def references(chunk: Chunk) -> set[str]:
    """The reference names a chunk's points hold (the files its worker needs)."""
    names = set()
    for _, point in chunk:
        for v in (point.platform, *point.params.values()):
            if isinstance(v, str) and v.startswith(REFERENCE):
                names.add(v[len(REFERENCE):])
    return names
