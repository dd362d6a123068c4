"""Input files read by content: digests, and parsed forms cached under the content hash.

Trace and capture readers (``lackey``, ``pcap``) parse a file once; the parsed arrays are
kept as an uncompressed ``.npz`` (never a pickle) named by the SHA-256 of the file's bytes,
in ``$CODESIGN_CACHE`` or ``~/.cache/codesign``. A moved file hits the cache; an edited file
does not. ``.gz`` inputs are decompressed before parsing.

>>> import tempfile, numpy as np
>>> os.environ["CODESIGN_CACHE"] = tempfile.mkdtemp()
>>> path = os.path.join(tempfile.mkdtemp(), "f.txt")
>>> _ = open(path, "w").write("1 2 3")
>>> calls = []
>>> def parse(data, name):
...     calls.append(name); return {"x": np.array(data.split(), dtype=np.int64)}
>>> first, digest = cached_parse(path, "demo", 1, parse)
>>> second, _ = cached_parse(path, "demo", 1, parse)
>>> second["x"].tolist(), len(calls), digest == file_digest(path)
([1, 2, 3], 1, True)
>>> del os.environ["CODESIGN_CACHE"]
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from codesign.errors import InputError

Arrays = dict[str, np.ndarray]


def cache_dir() -> Path:
    """``$CODESIGN_CACHE``, or ``~/.cache/codesign`` (created on first use).

    >>> os.environ["CODESIGN_CACHE"] = "/tmp/x"; str(cache_dir()); del os.environ["CODESIGN_CACHE"]
    '/tmp/x'
    """
    return Path(os.environ.get("CODESIGN_CACHE") or Path.home() / ".cache" / "codesign")


def read(path: Path) -> bytes:
    """A file's bytes; InputError naming it when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"workload.path: cannot read {path}: {exc.strerror or exc}") from None


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's content (hex); InputError when it cannot be read.

    >>> file_digest("/nonexistent/trace")
    Traceback (most recent call last):
    codesign.errors.InputError: workload.path: cannot read /nonexistent/trace: No such file or directory
    """  # noqa: E501
    p = Path(path)
    try:
        st = p.stat()
        stamp = (str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError:
        stamp = None
    if stamp is not None and stamp in _DIGESTS:
        return _DIGESTS[stamp]
    digest = hashlib.sha256(read(p)).hexdigest()
    if stamp is not None:
        _DIGESTS[stamp] = digest
    return digest


_DIGESTS: dict[tuple[str, int, int, int], str] = {}
"""Digests of files seen in this process, by path, size, modification time and inode: a
sweep resolves every point of a trace, and hashing a gigabyte each time would dominate. A
file rewritten in place with the same size within the clock's resolution would be missed;
content-addressed caches downstream still key on the digest computed here."""


def store(target: Path, **arrays: np.ndarray) -> None:
    """Write arrays as ``.npz`` beside ``target`` and rename: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as f:
        np.savez(f, **arrays)
    os.replace(f.name, target)


def cached_parse(
    path: str | os.PathLike[str],
    tag: str,
    version: int,
    parse: Callable[[bytes, str], Arrays],
    valid: Callable[[Arrays], bool] | None = None,
) -> tuple[Arrays, str]:
    """(parsed arrays, content digest) of a file, parsing it only when not cached before.

    ``tag`` and ``version`` name the cache entry (bump ``version`` when the parse changes);
    ``valid`` rejects a cached entry of another layout, which is then parsed again.
    """
    path = Path(path)
    raw = read(path)
    digest = hashlib.sha256(raw).hexdigest()
    cached = cache_dir() / f"{tag}-v{version}-{digest}.npz"
    try:
        with np.load(cached, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        if valid is None or valid(arrays):
            return arrays, digest
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        pass  # absent or unreadable (a crash mid-write elsewhere): parse again
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    arrays = parse(data, str(path))
    store(cached, **arrays)
    return arrays, digest
