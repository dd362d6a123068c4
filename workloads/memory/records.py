"""The references a streamed trace selects, kept on disk so that later passes skip its text.

A lackey trace above the streaming threshold is read again on every pass over its stream
(:func:`workloads.memory.lackey.streamed`): parsing text runs at about 250 MB/s, several times
the replay's own time. So the first pass that parses the whole selection -- the survey --
writes it out as it goes: per reference its virtual address (``uint64``) and its
:class:`~workloads.memory.events.Access` kind (``uint8``), 9 bytes where the text takes
about 15, as two raw little-endian files ``<name>.va`` and ``<name>.kind`` in
``$CODESIGN_CACHE/streams/`` (``~/.cache/codesign/streams``), named by the SHA-256 of the
stream's identity (the trace's content digest, ``workload.kinds``, ``workload.max_refs``,
``workload.skip_bad_lines``), and a small JSON file ``<name>.json`` that describes them.
Later passes read the two files a piece at a time: the same references, so the same events
and results (tested), in bounded memory (plain reads into ordinary arrays: a memory map
would count the whole file as resident).

**An entry is checked before its first use in a process**, as any cache entry: its JSON
(the identity, the count of references, the SHA-256 of each file), the files' sizes and
their digests, and the values (kinds 0..2, addresses below 2**47) of every piece read. One
that fails is deleted with a :class:`RuntimeWarning` and the text is parsed again. Files
are written beside their place and renamed into it, the description last, so a reader never
takes a half-written entry; a cache that cannot be written is a warning, and the passes
parse the text as before.

>>> import os, tempfile
>>> os.environ["CODESIGN_CACHE"] = tempfile.mkdtemp()
>>> w = Writer("demo")
>>> w.add(np.array([0x1000, 0x2008], dtype=np.uint64), np.array([0, 1], dtype=np.uint8))
>>> w.commit()
>>> r = find("demo", 2)
>>> [(va.tolist(), kind.tolist()) for va, kind in r.pieces(1)]
[([4096], [0]), ([8200], [1])]
>>> print(find("demo", 3))  # another count: not this entry
None
>>> del os.environ["CODESIGN_CACHE"]
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from workloads.filecache import cache_dir
from workloads.memory.events import USER_TOP, Access

FORMAT = 1
"""Version of the files' layout; part of the description."""

PARTS = (("va", np.dtype("<u8")), ("kind", np.dtype("u1")))
"""The files of an entry: their suffix and element type."""

_VERIFIED: set[tuple[str, int, int, int]] = set()
"""Entries (path, inode, size, modification time of the description) whose digests this
process checked: a sweep's every point reads the entry, and hashing gigabytes each time
would cost what the entry saves."""


def _base(identity: str) -> Path:
    return cache_dir() / "streams" / hashlib.sha256(identity.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Records:
    """A checked entry: its files and how many references they hold."""

    base: Path
    count: int

    def pieces(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(addresses, kinds) of the references, ``size`` at a time, in order; a piece whose
        values are impossible discards the entry and raises :class:`Damaged`, as does a
        file that cannot be read (another process discarded the entry meanwhile)."""
        with contextlib.ExitStack() as stack:
            try:
                files = [stack.enter_context(open(f"{self.base}.{suffix}", "rb"))
                         for suffix, _ in PARTS]
            except OSError as exc:
                _discard(self.base, f"unreadable: {exc.strerror or exc}")
                raise Damaged(str(self.base)) from None
            done = 0
            while done < self.count:
                n = min(size, self.count - done)
                try:
                    va, kind = (np.fromfile(f, dtype=dtype, count=n)
                                for f, (_, dtype) in zip(files, PARTS, strict=True))
                except OSError as exc:
                    _discard(self.base, f"unreadable: {exc.strerror or exc}")
                    raise Damaged(str(self.base)) from None
                if len(va) != n or len(kind) != n or (
                        n and (int(kind.max()) > Access.FETCH or int(va.max()) >= USER_TOP)):
                    _discard(self.base, f"impossible values after reference {done:,}")
                    raise Damaged(str(self.base))
                yield va, kind
                done += n


class Damaged(Exception):
    """An entry found damaged while it was being read (it is discarded)."""


def find(identity: str, count: int) -> Records | None:
    """The entry of a stream with ``count`` references, checked (see the module docstring);
    None when there is none, or it is damaged (then discarded, with a warning)."""
    base = _base(identity)
    meta = Path(f"{base}.json")
    try:
        st = meta.stat()
        description = json.loads(meta.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        _discard(base, f"unreadable description: {exc}")
        return None
    if not isinstance(description, dict) or description.get("identity") != identity \
            or description.get("format") != FORMAT:
        _discard(base, "its description is of another stream")
        return None
    if description.get("count") != count:
        return None
    memo = (str(base), st.st_ino, st.st_size, st.st_mtime_ns)
    if memo not in _VERIFIED:
        problem = _problem(base, description, count)
        if problem is not None:
            _discard(base, problem)
            return None
        _VERIFIED.add(memo)
    return Records(base, count)


def _problem(base: Path, description: dict, count: int) -> str | None:
    """What is wrong with an entry's files (None: nothing)."""
    for suffix, dtype in PARTS:
        path = Path(f"{base}.{suffix}")
        h = hashlib.sha256()
        try:
            if path.stat().st_size != count * dtype.itemsize:
                return f"{path.name} is not {count:,} references long"
            with path.open("rb") as f:
                while block := f.read(1 << 24):
                    h.update(block)
        except OSError as exc:
            return f"{path.name} unreadable: {exc.strerror or exc}"
        if h.hexdigest() != description.get(f"sha256.{suffix}"):
            return f"checksum mismatch in {path.name}"
    return None


def _discard(base: Path, why: str) -> None:
    for memo in [m for m in _VERIFIED if m[0] == str(base)]:
        _VERIFIED.discard(memo)
    for suffix in (".json", *(f".{s}" for s, _ in PARTS)):
        with contextlib.suppress(OSError):
            Path(f"{base}{suffix}").unlink(missing_ok=True)
    warnings.warn(f"{base}: damaged cache entry ({why}); discarded, the trace is parsed "
                  "again", RuntimeWarning, stacklevel=4)


class Writer:
    """Writes a stream's entry as its references come (:meth:`add`), into temporary files
    that :meth:`commit` renames into place. A failure to write is one warning, after which
    the writer does nothing: the entry is simply not kept."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.base = _base(identity)
        self.count = 0
        self.hashes = {suffix: hashlib.sha256() for suffix, _ in PARTS}
        self.files: dict[str, IO[bytes]] = {}
        try:
            self.base.parent.mkdir(parents=True, exist_ok=True)
            for suffix, _ in PARTS:
                self.files[suffix] = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in commit/abort
                    dir=self.base.parent, suffix=f".{suffix}.tmp", delete=False)
        except OSError as exc:
            self._failed(exc)

    def add(self, va: np.ndarray, kind: np.ndarray) -> None:
        """Append references (addresses, :class:`~workloads.memory.events.Access` kinds)."""
        if not self.files:
            return
        try:
            for (suffix, dtype), values in zip(PARTS, (va, kind), strict=True):
                data = np.ascontiguousarray(values, dtype=dtype).tobytes()
                self.files[suffix].write(data)
                self.hashes[suffix].update(data)
            self.count += len(va)
        except OSError as exc:
            self._failed(exc)

    def commit(self) -> None:
        """Put the entry in place (its files, then its description)."""
        if not self.files:
            return
        try:
            for f in self.files.values():
                f.close()
            for suffix, f in self.files.items():
                os.replace(f.name, f"{self.base}.{suffix}")
            description = {"identity": self.identity, "format": FORMAT, "count": self.count,
                           **{f"sha256.{s}": h.hexdigest() for s, h in self.hashes.items()}}
            with tempfile.NamedTemporaryFile("w", dir=self.base.parent, suffix=".json.tmp",
                                             delete=False) as f:
                json.dump(description, f)
            os.replace(f.name, f"{self.base}.json")
            self.files = {}
            # Its digests are of the bytes this process just wrote: checked already.
            st = Path(f"{self.base}.json").stat()
            _VERIFIED.add((str(self.base), st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError as exc:
            self._failed(exc)

    def abort(self) -> None:
        """Forget what was written (a pass that stopped early, or failed)."""
        for f in self.files.values():
            with contextlib.suppress(OSError):
                f.close()
                Path(f.name).unlink(missing_ok=True)
        self.files = {}

    def _failed(self, exc: OSError) -> None:
        self.abort()
        warnings.warn(f"{self.base}: cannot write the cache entry ({exc.strerror or exc}); "
                      "later passes parse the trace again", RuntimeWarning, stacklevel=3)


__all__ = ["Damaged", "Records", "Writer", "find"]
