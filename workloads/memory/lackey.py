"""``lackey``: a real program's references, from a Valgrind lackey trace.

Record one with ``valgrind --tool=lackey --trace-mem=yes --log-file=trace.lackey PROGRAM``
(see ``examples/lackey/``). The file may be plain or gzip-compressed (``.gz``).

**Format.** One reference per line: ``I  %08lx,%lu`` (instruction fetch), `` L %08lx,%lu``
(load), `` S ...`` (store), `` M ...`` (modify: a load and a store of the same bytes), the
address in hex without ``0x`` (any number of digits up to 16), the size in decimal. Lines
starting with Valgrind's ``==PID==``, ``--PID--`` or ``**PID**`` prefixes are banners and are
skipped, as are blank lines; trailing spaces and CRLF endings are accepted. Any other line is
an error naming the file and line: a truncated or foreign log is refused, not half-read.

**Parsing and cache.** A numba kernel parses the file's bytes (a numpy ``uint8`` array) in one
pass. The result (address, size, kind of every record) is cached as an uncompressed ``.npz``
(never pickle) named by the SHA-256 of the file's content in ``$CODESIGN_CACHE``, or
``~/.cache/codesign`` when unset, so a second load is a hash and an array read. A file whose
content changes gets a new digest and is parsed again; a moved file is not. The design-point
key uses the same digest in place of ``workload.path`` (:func:`identity`).

**Stream.** ``workload.kinds`` selects record kinds (default ``LSM``: data references). Each
selected record is one ACCESS of the page holding its first byte: ``I`` a fetch, ``L`` a read,
``S`` and ``M`` a write (an ``M``'s load translates the same page, so it is one access).
References at or above 2**47 (the legacy vsyscall page, kernel-provided) are dropped. Lackey
sees user mode only, so the stream opens with what the program's loader would have set up:
SPAWN, SWITCH, then one ``execve`` system call holding one MAP (read-write-execute: the trace
does not say protections) per maximal run of consecutive 2 MiB-aligned regions that the
selected references touch. Frames and tables then come from demand paging in the OS model.

>>> import gzip, tempfile, os
>>> with tempfile.TemporaryDirectory() as d:
...     os.environ["CODESIGN_CACHE"] = d
...     path = os.path.join(d, "t.lackey")
...     with open(path, "w") as f:
...         _ = f.write("==7== Lackey\\nI  00400000,4\\n L 00601008,8\\n M 00601010,4\\n")
...     ev = generate(LackeyParams(path=path, kinds="ILSM"))
...     del os.environ["CODESIGN_CACHE"]
>>> from workloads.memory.events import format_events
>>> print(format_events(ev))
     0 vm0 pid1  SPAWN
     1 vm0 pid1  SWITCH
     2 vm0 pid1  SYSCALL    execve #1
     3 vm0 pid1  MAP        0x400000 +1024 rwx #1
     4 vm0 pid1  ACCESS     X 0x400000
     5 vm0 pid1  ACCESS     R 0x601008
     6 vm0 pid1  ACCESS     W 0x601010
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numba
import numpy as np

from codesign.errors import InputError, where
from codesign.params import param
from codesign.registry import Workload
from workloads.filecache import cached_parse, file_digest
from workloads.memory.events import (
    RWX,
    USER_TOP,
    Access,
    StreamBuilder,
    Syscall,
    access_block,
)

KINDS = "ILSM"
"""Record kinds, by code 0..3 (the ``kind`` array)."""
FORMAT = 1
"""Version of the cached form; part of its file name."""
REGION_SHIFT = 21
_ACCESS_OF_KIND = np.array([Access.FETCH, Access.READ, Access.WRITE, Access.WRITE],
                           dtype=np.uint32)


@dataclass(frozen=True)
class Trace:
    """A parsed lackey file: per record its address, size and kind (index into ``KINDS``)."""

    addr: np.ndarray   # uint64
    size: np.ndarray   # uint32
    kind: np.ndarray   # uint8
    digest: str        # SHA-256 of the file content, hex


@numba.njit(cache=True)
def _parse(buf, addr, size, kind):  # pragma: no cover - compiled; tested through parse_bytes
    n = len(buf)
    i = 0
    line = 0
    out = 0
    while i < n:
        line += 1
        start = i
        j = i
        while j < n and buf[j] != 10:
            j += 1
        i = j + 1
        end = j
        while end > start and (buf[end - 1] == 13 or buf[end - 1] == 32 or buf[end - 1] == 9):
            end -= 1
        if end == start:
            continue
        c0 = buf[start]
        if end - start >= 3 and (c0 == 61 or c0 == 45 or c0 == 42) and buf[start + 1] == c0 \
                and 48 <= buf[start + 2] <= 57:
            continue  # ==PID==, --PID--, **PID** banners
        if end - start < 4:
            return out, line
        c1 = buf[start + 1]
        if c0 == 73 and c1 == 32 and buf[start + 2] == 32:
            k = 0
        elif c0 == 32 and buf[start + 2] == 32 and (c1 == 76 or c1 == 83 or c1 == 77):
            k = 1 if c1 == 76 else (2 if c1 == 83 else 3)
        else:
            return out, line
        p = start + 3
        a = np.uint64(0)
        digits = 0
        while p < end:
            c = buf[p]
            if 48 <= c <= 57:
                v = c - 48
            elif 97 <= c <= 102:
                v = c - 87
            elif 65 <= c <= 70:
                v = c - 55
            else:
                break
            a = a * np.uint64(16) + np.uint64(v)
            digits += 1
            p += 1
        if digits == 0 or digits > 16 or p >= end or buf[p] != 44:
            return out, line
        p += 1
        s = 0
        sdigits = 0
        while p < end and 48 <= buf[p] <= 57:
            s = s * 10 + (buf[p] - 48)
            sdigits += 1
            p += 1
        if sdigits == 0 or sdigits > 9 or p != end:
            return out, line
        addr[out] = a
        size[out] = s
        kind[out] = k
        out += 1
    return out, 0


def parse_bytes(data: bytes | np.ndarray, name: str = "<bytes>") -> tuple[np.ndarray, ...]:
    """(addr uint64, size uint32, kind uint8) of every record; InputError on a bad line.

    >>> addr, size, kind = parse_bytes(b"==1== hi\\r\\n L 7ff0,8\\r\\n\\nI  401000,3\\n")
    >>> [hex(a) for a in addr], size.tolist(), [KINDS[k] for k in kind]
    (['0x7ff0', '0x401000'], [8, 3], ['L', 'I'])
    >>> parse_bytes(b" L 7ff0,8\\n L 7ff0;8\\n", "t.lackey")
    Traceback (most recent call last):
    codesign.errors.InputError: t.lackey:2: malformed lackey line ' L 7ff0;8'; expected 'I  ADDR,SIZE', ' L ADDR,SIZE', ' S ...', ' M ...' or a ==PID== banner
    """  # noqa: E501
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else data
    lines = int(np.count_nonzero(buf == 10)) + 1
    addr = np.empty(lines, dtype=np.uint64)
    size = np.empty(lines, dtype=np.uint32)
    kind = np.empty(lines, dtype=np.uint8)
    count, bad = _parse(buf, addr, size, kind)
    if bad:
        newlines = np.flatnonzero(buf == 10)
        first = int(newlines[bad - 2]) + 1 if bad >= 2 else 0
        last = int(newlines[bad - 1]) if bad - 1 < len(newlines) else len(buf)
        text = bytes(buf[first:last]).decode("utf-8", "replace").rstrip("\r")
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InputError(f"{where(name, bad)}: malformed lackey line {shown!r}; expected "
                         "'I  ADDR,SIZE', ' L ADDR,SIZE', ' S ...', ' M ...' or a ==PID== banner")
    return addr[:count].copy(), size[:count].copy(), kind[:count].copy()


def load(path: str | os.PathLike[str]) -> Trace:
    """Parse a lackey file, or read its cached form when its content was parsed before.

    >>> load("/nonexistent/trace")
    Traceback (most recent call last):
    codesign.errors.InputError: workload.path: cannot read /nonexistent/trace: No such file or directory
    """  # noqa: E501
    def parse(data: bytes, name: str) -> dict[str, np.ndarray]:
        addr, size, kind = parse_bytes(data, name)
        return {"addr": addr, "size": size, "kind": kind}

    arrays, digest = cached_parse(path, "lackey", FORMAT, parse)
    return Trace(arrays["addr"], arrays["size"], arrays["kind"], digest)


@dataclass(frozen=True)
class LackeyParams:
    """Parameters of ``lackey``."""

    path: str = param("", key="workload.path", path=True,
                      doc="Valgrind lackey trace file (plain or .gz; relative to the sweep "
                          "spec's folder); keyed by its content")
    kinds: str = param("LSM", key="workload.kinds",
                       doc="record kinds replayed, letters of ILSM in that order "
                           "(I fetch, L load, S store, M modify)")
    max_refs: int = param(0, key="workload.max_refs", min=0, max=2**62,
                          doc="replay only the first N selected references (0: all)")

    def __post_init__(self) -> None:
        letters = [c for c in KINDS if c in self.kinds]
        if not self.kinds or "".join(letters) != self.kinds:
            raise ValueError(f"workload.kinds must be letters of ILSM, each once and in that "
                             f"order, so one set has one key; got {self.kinds!r}")


def _required(p: LackeyParams) -> str:
    if not p.path:
        raise InputError("workload.path: the lackey workload needs a trace file")
    return p.path


def identity(p: LackeyParams) -> dict[str, str]:
    """The content digest in place of the path, for the design-point key."""
    return {"workload.path": "sha256:" + file_digest(_required(p))}


def stream(trace: Trace, kinds: str = "LSM", max_refs: int = 0) -> np.ndarray:
    """The OS-event stream of a parsed trace (see the module docstring).

    >>> t = Trace(np.array([0x601000, 0x401000, 0xA00000], dtype=np.uint64),
    ...           np.ones(3, dtype=np.uint32), np.array([1, 0, 2], dtype=np.uint8), "")
    >>> ev = stream(t, "LS")
    >>> [(hex(int(e["va"])), int(e["pages"])) for e in ev[ev["op"] == 2]]   # MAPs
    [('0x600000', 512), ('0xa00000', 512)]
    """
    wanted = np.array([c in kinds for c in KINDS])
    keep = wanted[trace.kind] & (trace.addr < np.uint64(USER_TOP))
    va, kind = trace.addr[keep], trace.kind[keep]
    if max_refs:
        va, kind = va[:max_refs], kind[:max_refs]
    regions = va >> np.uint64(REGION_SHIFT)
    if len(regions):
        # Neighbouring references mostly share a region: dropping repeats first makes the
        # sort inside unique several times shorter.
        regions = regions[np.concatenate(([True], regions[1:] != regions[:-1]))]
    regions = np.unique(regions)
    breaks = np.flatnonzero(np.diff(regions) != 1) + 1
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    if len(regions):
        with b.syscall(Syscall.EXECVE):
            for run in np.split(regions, breaks):
                b.map(int(run[0]) << REGION_SHIFT, len(run) << (REGION_SHIFT - 12), RWX)
    return access_block(va, _ACCESS_OF_KIND[kind], pid=1, head=b.build())


def generate(p: LackeyParams) -> np.ndarray:
    """The stream of the trace at ``workload.path``."""
    return stream(load(_required(p)), p.kinds, p.max_refs)


WORKLOADS = (
    Workload("lackey", "memory", "a real program's references from a Valgrind lackey trace",
             LackeyParams, generate, identity=identity),
)
