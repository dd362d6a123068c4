"""``lackey``: a real program's references, from a Valgrind lackey trace.

Record one with ``valgrind --tool=lackey --trace-mem=yes --log-file=trace.lackey PROGRAM``
(see ``examples/lackey/``). The file may be plain or gzip-compressed (``.gz``).

**Format.** One reference per line: ``I  %08lx,%lu`` (instruction fetch), `` L %08lx,%lu``
(load), `` S ...`` (store), `` M ...`` (modify: a load and a store of the same bytes), the
address in hex without ``0x`` (any number of digits up to 16), the size in decimal. Lines
starting with Valgrind's ``==PID==``, ``--PID--`` or ``**PID**`` prefixes are banners and are
skipped, as are blank lines; trailing spaces and CRLF endings are accepted.

**Bad input** is refused with one line naming the file, the 1-based line and what was
expected, never half-read: a malformed line (bad hex, no comma, a size that is not a number,
an unknown record letter, program output mixed into the log), a truncated last line, an empty
file, a file with no reference of the selected kinds (named at its last line), a corrupt or
cut gzip file (named at the line where its readable text ends). A missing file, or one that
is not a regular file (``/dev/zero``, a FIFO, a directory), names ``workload.path``; a file
(or a ``.gz`` file's text) larger than ``$CODESIGN_MAX_INPUT_BYTES`` (16 GiB) is refused.
With ``workload.skip_bad_lines = true`` malformed and truncated lines are left out instead,
and a :class:`RuntimeWarning` names the file, how many lines were skipped and the first of
them (the stream of the good lines is the same as that of the file without them).

**Parsing and cache.** A numba kernel parses the file's bytes (a numpy ``uint8`` array) in one
pass. The result (address, size, kind of every record) is cached as an uncompressed ``.npz``
(never pickle) named by the SHA-256 of the file's content in ``$CODESIGN_CACHE``, or
``~/.cache/codesign`` when unset, so a second load is a hash and an array read. The entry
records how many bad lines were skipped: a strict load never uses an entry that skipped some,
so ``skip_bad_lines`` is part of what a cached parse is valid for. A file whose
content changes gets a new digest and is parsed again; a moved file is not. An entry is
checked before use (its checksum, then :func:`check_arrays`); a damaged one is rebuilt, with a
warning. The design-point key uses the same digest in place of ``workload.path``
(:func:`identity`), and :func:`generate` refuses a file whose bytes changed after its key was
computed.

**Traces larger than memory.** A trace whose text exceeds
:func:`~codesign.inputfile.stream_limit` (256 MiB, ``$CODESIGN_STREAM_BYTES``; a ``.gz``
file counted at :data:`GZIP_RATIO` times its size) is not parsed into memory:
:func:`generate` returns its stream as pieces (:class:`~workloads.memory.chunked.EventChunks`),
and every pass over them reads, inflates and parses the file a :data:`BLOCK` of text at a
time (:func:`scan_pieces`), so that a 10 GB trace runs in the memory of one block. A first
pass (:func:`streamed`) parses all of it -- the same errors, line numbers and skipped-line
warnings as :func:`load` -- and finds the regions the references touch, for the stream's
head; its counts are kept per content (:mod:`codesign.resultcache`), and the references it
selects are kept on disk (:mod:`workloads.memory.records`, 9 bytes each), which later
passes read instead of the text. A pass refuses a file whose stamp changed since. The
events, and every result computed from them, are those of the whole path (tested).

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

import hashlib
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from codesign.errors import InputError, where
from codesign.params import param
from codesign.registry import Workload
from codesign.resultcache import cached
from workloads.filecache import (
    Readable,
    cached_parse,
    changed,
    confirm_digest,
    file_digest,
    file_stamp,
    key_digest,
    layout_problem,
    text_pieces,
    too_large_to_hold,
)
from workloads.memory import records
from workloads.memory.chunked import EventChunks, Stream
from workloads.memory.events import (
    RWX,
    USER_TOP,
    Access,
    Ev,
    StreamBuilder,
    Syscall,
    access_block,
    sorted_distinct,
)

KINDS = "ILSM"
"""Record kinds, by code 0..3 (the ``kind`` array)."""
FORMAT = 3
"""Version of the cached form; part of its file name (2: with ``meta``: lines, skipped
and first bad line; 3: with a checksum). It is part of a streamed trace's identity too, which
names its kept selection (:mod:`workloads.memory.records`): bump it when what a parse gives,
or which references a workload selects, changes."""
MAX_SIZE = 10**9 - 1
"""Largest reference size a line can give (nine decimal digits)."""
REGION_SHIFT = 21
_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_HEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
_HEX.flags.writeable = False
"""Value of each byte as a hex digit; 255 for bytes that are not one (a compile-time constant
of the parser)."""
_SHAPE = {"I": "I  ADDR,SIZE", "L": " L ADDR,SIZE", "S": " S ADDR,SIZE", "M": " M ADDR,SIZE"}
_ACCESS_OF_KIND = np.array([Access.FETCH, Access.READ, Access.WRITE, Access.WRITE],
                           dtype=np.uint32)


@dataclass(frozen=True)
class Trace:
    """A parsed lackey file: per record its address, size and kind (index into ``KINDS``).

    ``lines`` counts the file's lines; ``skipped`` the bad lines passed over (only with
    ``workload.skip_bad_lines``) and ``first_bad`` the number of the first of them (0: none).
    """

    addr: np.ndarray   # uint64
    size: np.ndarray   # uint32
    kind: np.ndarray   # uint8
    digest: str        # SHA-256 of the file content, hex
    lines: int = 0
    skipped: int = 0
    first_bad: int = 0


@numba.njit(cache=True)
def _parse(buf, addr, size, kind, skip):  # pragma: no cover - compiled; tested through scan
    """(records, lines, first bad line or 0, bad lines) of ``buf``.

    One pass: a record line is parsed where it starts (the common case), into the next slot
    of ``addr``, ``size``, ``kind``; any other line is found to its end and is blank, a
    banner or bad. A bad line stops the parse unless ``skip``; then it is counted and passed
    over. The record's loops run to a fixed bound (one digit past the most a field may
    have, which then fails the length check), a decimal digit is one unsigned compare, and
    the record is parsed in the loop rather than in an inlined helper: 1,180 MB/s on a
    recorded ``ls`` trace against 650 MB/s before (2-CPU container), the same results on
    6,000 random near-miss texts and the tests' reference parser.
    """
    n = len(buf)
    i = 0
    line = 0
    out = 0
    first_bad = 0
    bad = 0
    while i < n:
        line += 1
        p = i
        if p + 4 < n and buf[p + 2] == 32:
            c0 = buf[p]
            c1 = buf[p + 1]
            k = -1
            if c0 == 32:
                if c1 == 76:
                    k = 1
                elif c1 == 83:
                    k = 2
                elif c1 == 77:
                    k = 3
            elif c0 == 73 and c1 == 32:
                k = 0
            if k >= 0:
                p += 3
                first = p
                a = np.uint64(0)
                stop = min(n, p + 17)
                while p < stop:
                    v = _HEX[buf[p]]
                    if v > 15:
                        break
                    a = (a << np.uint64(4)) | np.uint64(v)
                    p += 1
                if p != first and p - first <= 16 and p < n and buf[p] == 44:
                    p += 1
                    first = p
                    s = np.uint32(0)
                    stop = min(n, p + 10)
                    while p < stop:
                        d = buf[p] - np.uint8(48)
                        if d > 9:
                            break
                        s = s * np.uint32(10) + np.uint32(d)
                        p += 1
                    if p != first and p - first <= 9:
                        if p < n and buf[p] != 10:  # trailing blanks before the newline
                            while p < n and (buf[p] == 32 or buf[p] == 13 or buf[p] == 9):
                                p += 1
                        if p >= n or buf[p] == 10:
                            addr[out] = a
                            size[out] = s
                            kind[out] = k
                            out += 1
                            i = p + 1
                            continue
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
        bad += 1
        if first_bad == 0:
            first_bad = line
        if not skip:
            break
    return out, line, first_bad, bad


EXPECTED = ("expected 'I  ADDR,SIZE', ' L ADDR,SIZE', ' S ...', ' M ...' or a ==PID== banner")


def _line_text(buf: np.ndarray, number: int) -> str:
    """Line ``number`` (1-based) of ``buf``, shortened for a message."""
    newlines = np.flatnonzero(buf == 10)
    first = int(newlines[number - 2]) + 1 if number >= 2 else 0
    last = int(newlines[number - 1]) if number - 1 < len(newlines) else len(buf)
    text = bytes(buf[first:last]).decode("utf-8", "replace").rstrip("\r")
    return text if len(text) <= 60 else text[:57] + "..."


def scan(data: bytes | np.ndarray, name: str = "<bytes>",
         skip_bad_lines: bool = False) -> Trace:
    """Parse lackey text into a :class:`Trace` (digest left empty); InputError on bad input.

    A bad line is an error, unless ``skip_bad_lines``: then bad lines are counted
    (``skipped``, ``first_bad``) and left out.

    >>> t = scan(b" L 7ff0,8\\n L 7ff0;8\\nI  10,4\\n L 7ff0,", "t.lackey", skip_bad_lines=True)
    >>> len(t.addr), t.lines, t.skipped, t.first_bad
    (2, 4, 2, 2)
    >>> scan(b" L 7ff0,8\\n L 7ff0", "t.lackey")
    Traceback (most recent call last):
    codesign.errors.InputError: t.lackey:2: truncated last line ' L 7ff0'; expected 'I  ADDR,SIZE', ' L ADDR,SIZE', ' S ...', ' M ...' or a ==PID== banner (workload.skip_bad_lines = true skips bad lines)
    """  # noqa: E501
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else data
    totals = Totals()
    addr, size, kind = _scan_block(buf, name, skip_bad_lines, totals)
    return Trace(addr, size, kind, "", totals.lines, totals.skipped, totals.first_bad)


@dataclass
class Totals:
    """What a parse in blocks has seen so far: lines, bad lines skipped and the first of
    them, records, and the text's bytes."""

    lines: int = 0
    skipped: int = 0
    first_bad: int = 0
    records: int = 0
    size: int = 0


def _scan_block(buf: np.ndarray, name: str, skip_bad_lines: bool,
                totals: Totals) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(addr, size, kind) of the records of whole lines of a text, which starts at line
    ``totals.lines + 1`` of the file (only its last block may end without a newline);
    ``totals`` brought up to date. InputError at a bad line unless skipping."""
    slots = int(np.count_nonzero(buf == 10)) + 1
    addr = np.empty(slots, dtype=np.uint64)
    size = np.empty(slots, dtype=np.uint32)
    kind = np.empty(slots, dtype=np.uint8)
    count, seen, first_bad, bad = _parse(buf, addr, size, kind, skip_bad_lines)
    if bad and not skip_bad_lines:
        truncated = first_bad == slots and buf[-1] != 10
        what = "truncated last line" if truncated else "malformed lackey line"
        raise InputError(f"{where(name, totals.lines + first_bad)}: {what} "
                         f"{_line_text(buf, first_bad)!r}; {EXPECTED} "
                         "(workload.skip_bad_lines = true skips bad lines)")
    if bad and not totals.skipped:
        totals.first_bad = totals.lines + int(first_bad)
    totals.skipped += int(bad)
    totals.lines += int(seen)
    totals.records += int(count)
    # Views, not copies: the slots left over are the text's banners and blank lines.
    return addr[:count], size[:count], kind[:count]


BLOCK = 1 << 24
"""Text parsed at a time when a trace is streamed (16 MiB: about a million references)."""


def scan_pieces(pieces: Iterable[bytes], name: str, skip_bad_lines: bool, totals: Totals,
                block: int = BLOCK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(addr, kind) of the records of lackey text given in pieces, about ``block`` bytes of
    text at a time; ``totals`` counts as it goes. The same records, counts and errors as
    :func:`scan` of the joined text (tested); memory bounded by a block and the longest
    line. An empty text is an error.

    >>> totals = Totals()
    >>> parts = scan_pieces([b" L 10,8\\nI  2", b"0,4\\n\\n S 30,1"], "t", False, totals, block=4)
    >>> [a.tolist() for a, _ in parts], totals.lines, totals.records
    ([[16], [32], [48]], 4, 3)
    """
    carry = b""
    held: list[bytes] = []
    size = 0
    for piece in pieces:
        totals.size += len(piece)
        held.append(piece)
        size += len(piece)
        if size < block:
            continue
        text = carry + b"".join(held)
        held, size = [], 0
        cut = text.rfind(b"\n") + 1
        if cut:
            buf = np.frombuffer(text, dtype=np.uint8, count=cut)
            addr, _, kind = _scan_block(buf, name, skip_bad_lines, totals)
            yield addr, kind
        carry = text[cut:]
    if not totals.size:
        raise InputError(f"{where(name, 1)}: empty lackey trace; expected Valgrind lackey "
                         "output (valgrind --tool=lackey --trace-mem=yes)")
    text = carry + b"".join(held)
    if text:
        addr, _, kind = _scan_block(np.frombuffer(text, dtype=np.uint8), name, skip_bad_lines,
                                    totals)
        yield addr, kind


def parse_bytes(data: bytes | np.ndarray, name: str = "<bytes>") -> tuple[np.ndarray, ...]:
    """(addr uint64, size uint32, kind uint8) of every record; InputError on a bad line.

    >>> addr, size, kind = parse_bytes(b"==1== hi\\r\\n L 7ff0,8\\r\\n\\nI  401000,3\\n")
    >>> [hex(a) for a in addr], size.tolist(), [KINDS[k] for k in kind]
    (['0x7ff0', '0x401000'], [8, 3], ['L', 'I'])
    >>> parse_bytes(b" L 7ff0,8\\n L 7ff0;8\\n", "t.lackey")
    Traceback (most recent call last):
    codesign.errors.InputError: t.lackey:2: malformed lackey line ' L 7ff0;8'; expected 'I  ADDR,SIZE', ' L ADDR,SIZE', ' S ...', ' M ...' or a ==PID== banner (workload.skip_bad_lines = true skips bad lines)
    """  # noqa: E501
    t = scan(data, name)
    return t.addr, t.size, t.kind


def _gunzip_error(name: str, readable: Readable) -> InputError:
    """The error for a corrupt gzip file: the line where its readable text ends, and why."""
    line = readable.newlines + 1
    return InputError(f"{where(name, line)}: corrupt gzip data ({readable.why}) after "
                      f"{line - 1} readable lines; expected a complete gzip-compressed "
                      "lackey trace")


def check_arrays(arrays: dict[str, np.ndarray]) -> str | None:
    """What is wrong with arrays as a parse of a lackey file (None: nothing): names, dtypes,
    lengths, kind codes, sizes and the line counts in ``meta``. Run on every cache entry.

    >>> t = scan(b" L 7ff0,8\\n", "t.lackey")
    >>> arrays = {"addr": t.addr, "size": t.size, "kind": t.kind,
    ...           "meta": np.array([t.lines, t.skipped, t.first_bad], dtype=np.int64)}
    >>> print(check_arrays(arrays))
    None
    >>> check_arrays({**arrays, "kind": np.array([7], dtype=np.uint8)})
    'kind code 7 is not one of 0..3 (ILSM)'
    """
    problem = layout_problem(arrays, {"addr": np.uint64, "size": np.uint32, "kind": np.uint8,
                                      "meta": np.int64}, fixed={"meta": (3,)})
    if problem is not None:
        return problem
    kind, size = arrays["kind"], arrays["size"]
    if len(kind) and int(kind.max()) >= len(KINDS):
        return f"kind code {int(kind.max())} is not one of 0..{len(KINDS) - 1} ({KINDS})"
    if len(size) and int(size.max()) > MAX_SIZE:
        return f"size {int(size.max())} has more than nine digits"
    lines, skipped, first_bad = (int(v) for v in arrays["meta"])
    # Every line is one record, one bad line, a blank or a banner; the first bad line is
    # given exactly when some were skipped.
    if not (skipped >= 0 and len(kind) + skipped <= lines
            and (first_bad == 0) == (skipped == 0) and 0 <= first_bad <= lines):
        return (f"meta (lines {lines}, skipped {skipped}, first bad {first_bad}) does not fit "
                f"{len(kind)} records")
    return None


def load(path: str | os.PathLike[str], skip_bad_lines: bool = False) -> Trace:
    """Parse a lackey file, or read its cached form when its content was parsed before.

    With ``skip_bad_lines``, bad lines are left out and a :class:`RuntimeWarning` names the
    file, how many were skipped and the first one. The cache holds one entry per content:
    a strict load never takes an entry that skipped lines (it parses again, and fails).

    >>> load("/nonexistent/trace")
    Traceback (most recent call last):
    codesign.errors.InputError: workload.path: /nonexistent/trace: no such file
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".lackey") as f:
    ...     load(f.name)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    codesign.errors.InputError: /...lackey:1: empty lackey trace; expected Valgrind lackey output (valgrind --tool=lackey --trace-mem=yes)
    """  # noqa: E501
    def parse(data: bytes, name: str) -> dict[str, np.ndarray]:
        if not data:
            raise InputError(f"{where(name, 1)}: empty lackey trace; expected Valgrind lackey "
                             "output (valgrind --tool=lackey --trace-mem=yes)")
        t = scan(data, name, skip_bad_lines)
        meta = np.array([t.lines, t.skipped, t.first_bad], dtype=np.int64)
        return {"addr": t.addr, "size": t.size, "kind": t.kind, "meta": meta}

    def usable(arrays: dict[str, np.ndarray]) -> bool:
        return skip_bad_lines or int(arrays["meta"][1]) == 0

    arrays, digest = cached_parse(path, "lackey", FORMAT, parse, check_arrays, usable,
                                  _gunzip_error)
    lines, skipped, first_bad = (int(v) for v in arrays["meta"])
    _warn_skipped(str(path), skipped, first_bad)
    return Trace(arrays["addr"], arrays["size"], arrays["kind"], digest, lines, skipped,
                 first_bad)


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
    skip_bad_lines: bool = param(False, key="workload.skip_bad_lines",
                                 doc="skip and count malformed lines (a warning names the "
                                     "file, the count and the first) instead of refusing "
                                     "the trace")

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
    return {"workload.path": "sha256:" + key_digest(_required(p))}


def stream(trace: Trace, kinds: str = "LSM", max_refs: int = 0) -> np.ndarray:
    """The OS-event stream of a parsed trace (see the module docstring).

    >>> t = Trace(np.array([0x601000, 0x401000, 0xA00000], dtype=np.uint64),
    ...           np.ones(3, dtype=np.uint32), np.array([1, 0, 2], dtype=np.uint8), "")
    >>> ev = stream(t, "LS")
    >>> [(hex(int(e["va"])), int(e["pages"])) for e in ev[ev["op"] == 2]]   # MAPs
    [('0x600000', 512), ('0xa00000', 512)]
    """
    va, kind = _selected(trace.addr, trace.kind, kinds)
    if max_refs:
        va, kind = va[:max_refs], kind[:max_refs]
    return access_block(va, _ACCESS_OF_KIND[kind], pid=1, head=_head(_regions(va)))


def _selected(addr: np.ndarray, kind: np.ndarray, kinds: str) -> tuple[np.ndarray, np.ndarray]:
    """The references of the selected kinds that user space can make (below 2**47)."""
    wanted = np.array([c in kinds for c in KINDS])
    keep = wanted[kind] & (addr < np.uint64(USER_TOP))
    return addr[keep], kind[keep]


def _regions(va: np.ndarray) -> np.ndarray:
    """The 2 MiB regions the references touch, sorted."""
    return sorted_distinct(va >> np.uint64(REGION_SHIFT))


def _head(regions: np.ndarray) -> np.ndarray:
    """What the loader set up before the first reference: the process, and one MAP per run
    of consecutive regions, in one ``execve``."""
    breaks = np.flatnonzero(np.diff(regions) != 1) + 1
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    if len(regions):
        with b.syscall(Syscall.EXECVE):
            for run in np.split(regions, breaks):
                b.map(int(run[0]) << REGION_SHIFT, len(run) << (REGION_SHIFT - 12), RWX)
    return b.build()


def _no_reference(path: str, p: LackeyParams, lines: int, records: int,
                  skipped: int) -> InputError:
    kept = f", {skipped} bad lines skipped" if skipped else ""
    return InputError(
        f"{where(path, lines)}: no reference of kinds {p.kinds!r} below 2**47 in "
        f"{lines} lines ({records} records{kept}); expected at least one "
        + " or ".join(repr(_SHAPE[c]) for c in p.kinds) + " line (workload.kinds selects "
        "the kinds)")


def _warn_skipped(path: str, skipped: int, first_bad: int) -> None:
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} bad lackey line{'s' if skipped > 1 else ''} "
                      f"(first: line {first_bad}) because workload.skip_bad_lines is true",
                      RuntimeWarning, stacklevel=3)


def generate(p: LackeyParams) -> Stream:
    """The stream of the trace at ``workload.path``; InputError when it has no reference of
    the selected kinds (a log of another tool, only fetches, only banners...), or when the
    file's bytes are not those its design-point key was computed from (it changed since).

    A trace whose text is larger than :func:`~codesign.inputfile.stream_limit` (a ``.gz``
    file counted at :data:`GZIP_RATIO` times its size) comes as pieces
    (:class:`~workloads.memory.chunked.EventChunks`), read and parsed a block at a time on
    every pass: the same events, in memory bounded by a block.
    """
    path = _required(p)
    if too_large_to_hold(path, GZIP_RATIO):
        return streamed(p)
    trace = load(path, p.skip_bad_lines)
    confirm_digest(path, trace.digest)
    events = stream(trace, p.kinds, p.max_refs)
    if not np.any(events["op"] == Ev.ACCESS):
        raise _no_reference(path, p, trace.lines, len(trace.addr), trace.skipped)
    return events


GZIP_RATIO = 16
"""How much larger than its ``.gz`` file a trace's text is reckoned when choosing whether to
stream it: lackey text compresses 12x (``gzip -1``) to 23x (``gzip -6``) on a recorded trace
(``ls``, 70 MB)."""


def streamed(p: LackeyParams, block: int = BLOCK, piece: int = 0) -> EventChunks:
    """The stream of the trace at ``workload.path`` in pieces of about ``block`` bytes of
    text each, or ``piece`` references (:data:`RECORD_PIECE` when 0) where they are read
    from disk (see :func:`generate`). A first pass parses the whole file (its errors are
    :func:`load`'s) and finds the regions the references touch, for the stream's head; its
    result is kept per content (:mod:`codesign.resultcache`), and the references it selects
    are kept on disk (:mod:`workloads.memory.records`), where every later pass reads them a
    piece at a time (or parses the text again, when they could not be kept). A pass refuses
    the file if it changed."""
    path = _required(p)
    stamp = file_stamp(path)
    digest = file_digest(path)
    identity = f"lackey/{FORMAT}/{digest}/{p.kinds}/{p.max_refs}/{int(p.skip_bad_lines)}"
    survey = cached("lackey-survey", {"digest": digest, "kinds": p.kinds,
                                      "max_refs": p.max_refs, "skip": p.skip_bad_lines,
                                      "format": FORMAT},
                    lambda: _survey(path, p, digest, block, identity))
    confirm_digest(path, digest)
    _warn_skipped(path, survey["skipped"], survey["first_bad"])
    if not survey["accesses"]:
        raise _no_reference(path, p, survey["lines"], survey["records"], survey["skipped"])
    head = _head(np.array(survey["regions"], dtype=np.uint64))
    accesses = int(survey["accesses"])

    def passes() -> Iterator[np.ndarray]:
        if file_stamp(path) != stamp:
            raise changed(path)
        yield head
        kept = records.find(identity, accesses)
        if kept is not None:
            try:
                for va, kind in kept.pieces(piece or RECORD_PIECE):
                    yield access_block(va, kind, pid=1)
            except records.Damaged as exc:
                raise InputError(f"{exc}: damaged cache entry, discarded while the trace "
                                 "was replayed; run again") from None
        else:
            yield from _parsed(path, p, block, identity)
        if file_stamp(path) != stamp:
            raise changed(path)

    return EventChunks(passes, len(head) + accesses, accesses, identity)


RECORD_PIECE = 1 << 19
"""References read at a time from a kept selection (:mod:`workloads.memory.records`): 16 MiB
of events, a block the allocator reuses from one piece to the next."""


def _selections(path: str, p: LackeyParams, block: int, totals: Totals,
                raw_hash: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(addresses, :class:`Access` kinds) of the references the trace's text selects, block
    by block, up to ``workload.max_refs``; with ``raw_hash`` (the survey) parsed to the end
    all the same, as a bad line anywhere is refused (``totals`` counts it all)."""
    left = p.max_refs or -1
    for addr, kind in scan_pieces(text_pieces(path, _gunzip_error, size=block,
                                              raw_hash=raw_hash),
                                  path, p.skip_bad_lines, totals, block):
        if left == 0:
            if raw_hash is None:
                break
            continue
        va, kind = _selected(addr, kind, p.kinds)
        if left > 0:
            va, kind = va[:left], kind[:left]
            left -= len(va)
        yield va, _ACCESS_OF_KIND[kind].astype(np.uint8)


def _parsed(path: str, p: LackeyParams, block: int, identity: str) -> Iterator[np.ndarray]:
    """The ACCESS events of a pass that parses the text, keeping the selection on disk for
    the next passes when it gets to the end."""
    writer = records.Writer(identity)
    try:
        for va, access in _selections(path, p, block, Totals()):
            writer.add(va, access)
            if len(va):
                yield access_block(va, access, pid=1)
        writer.commit()
    finally:
        writer.abort()  # (nothing left to forget once committed)


def _survey(path: str, p: LackeyParams, digest: str, block: int, identity: str) -> dict[str, Any]:
    """Counts and touched regions of the trace, in one pass that parses all of it (and keeps
    its selection on disk for the passes that follow)."""
    totals = Totals()
    raw = hashlib.sha256()
    selected = 0
    regions = np.zeros(0, dtype=np.uint64)
    writer = records.Writer(identity)
    try:
        for va, access in _selections(path, p, block, totals, raw):
            writer.add(va, access)
            selected += len(va)
            regions = np.union1d(regions, _regions(va))
        if raw.hexdigest() != digest:
            raise changed(path)
        if selected:
            writer.commit()
    finally:
        writer.abort()
    return {"lines": totals.lines, "skipped": totals.skipped, "first_bad": totals.first_bad,
            "records": totals.records, "accesses": selected,
            "regions": [int(r) for r in regions]}


WORKLOADS = (
    Workload("lackey", "memory", "a real program's references from a Valgrind lackey trace",
             LackeyParams, generate, identity=identity),
)
