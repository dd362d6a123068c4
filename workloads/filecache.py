"""Input files read by content: digests, and parsed forms cached under the content hash.

Trace and capture readers (``lackey``, ``pcap``) parse a file once; the parsed arrays are
kept as an uncompressed ``.npz`` (never a pickle) named by the SHA-256 of the file's bytes,
in ``$CODESIGN_CACHE`` or ``~/.cache/codesign``. A moved file hits the cache; an edited file
does not. ``.gz`` inputs are decompressed before parsing.

**Bounded reads.** Files are read through :func:`codesign.inputfile.read_bytes`: only
regular files (``/dev/zero``, a FIFO or a directory is refused before it is opened), at most
:func:`~codesign.inputfile.data_limit` bytes, and gzip data inflates to no more than that.
A trace too large to hold is read by :func:`text_pieces` instead: the same checks, caps and
errors, a piece at a time.

**A cache entry is checked before it is used**, as it is a file anyone can edit or damage:
beside the arrays it holds ``checksum``, the SHA-256 of the entry's name parts (tag, version,
the source's digest) and of every array's name, dtype, shape and bytes; the reader's own
``check`` then sees the arrays' names, dtypes, shapes and value ranges. An entry that fails
is deleted and the source parsed again, with a :class:`RuntimeWarning` naming the entry.

**Keys and evaluations see the same bytes.** :func:`key_digest` (what a workload's
``identity`` puts in the design-point key) remembers, per path, the digest it gave;
:func:`confirm_digest` (called by the workload's ``generate`` with the digest of the bytes
it parsed) refuses a mismatch: the file changed after its key was computed.

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

import contextlib
import hashlib
import os
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from codesign.errors import InputError
from codesign.inputfile import (
    TooLarge,
    check_regular,
    data_limit,
    gunzip,
    is_gzip,
    read_bytes,
    read_pieces,
    sha256_of,
    stream_limit,
)

Arrays = dict[str, np.ndarray]
Check = Callable[[Arrays], str | None]
"""A reader's check of a cached entry's arrays: None when they are a possible parse, else
what is wrong with them (one line)."""
CHECKSUM = "checksum"
"""Name of the array holding an entry's SHA-256 (32 ``uint8``): no parse may use it."""


def cache_dir() -> Path:
    """``$CODESIGN_CACHE``, or ``~/.cache/codesign`` (created on first use).

    >>> os.environ["CODESIGN_CACHE"] = "/tmp/x"; str(cache_dir()); del os.environ["CODESIGN_CACHE"]
    '/tmp/x'
    """
    return Path(os.environ.get("CODESIGN_CACHE") or Path.home() / ".cache" / "codesign")


def _label(path: Path) -> str:
    return f"workload.path: {path}"


def read(path: str | os.PathLike[str]) -> bytes:
    """A regular file's bytes, at most :func:`~codesign.inputfile.data_limit` of them;
    InputError naming ``workload.path`` and the file otherwise.

    >>> read("/dev/zero")
    Traceback (most recent call last):
    codesign.errors.InputError: workload.path: /dev/zero: a character device, not a regular file; expected a file
    """  # noqa: E501
    p = Path(path)
    return read_bytes(p, limit=data_limit(), label=_label(p))


Stamp = tuple[str, int, int, int, int, int, int]


def _stamp(path: Path, st: os.stat_result) -> Stamp:
    # ctime too: no system call sets it, so a rewrite that restores size and mtime (cp -p,
    # os.utime) still changes the stamp, unless it lands within the clock's granularity.
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
            st.st_ctime_ns, st.st_mode)


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a regular file's content (hex); InputError when it cannot be read.

    Memoised by the file's stat (see :data:`_DIGESTS`).

    >>> file_digest("/nonexistent/trace")
    Traceback (most recent call last):
    codesign.errors.InputError: workload.path: /nonexistent/trace: no such file
    >>> file_digest("/dev/urandom")
    Traceback (most recent call last):
    codesign.errors.InputError: workload.path: /dev/urandom: a character device, not a regular file; expected a file
    """  # noqa: E501
    p = Path(path)
    st = check_regular(p, _label(p))  # before any open: a FIFO or a device is never read
    stamp = _stamp(p, st)
    digest = _DIGESTS.get(stamp) or _recalled(stamp)
    if digest is None:
        digest = _hashed(p, stamp)
    return digest


def _sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read a few MiB at a time (:func:`read`'s checks)."""
    return sha256_of(path, limit=data_limit(), label=_label(path))


SETTLED_NS = 10 * 10**9
"""A digest computed at least this long after the file last changed (the later of its
modification and change times) holds for as long as the file keeps its stamp: any later
write sets the change time past the moment of hashing, a clock tick or more after the last
one, so the stamp changes (git's rule for racily clean index entries). Ten seconds, not one
tick, so that a file server's clock a few seconds behind ours does not break the rule."""

_HASHED_AT: dict[Stamp, int] = {}
"""When (``time.time_ns()``) the bytes behind each memoised digest started to be read, for
the digests this process computed itself with the stamp unchanged across the read."""


def _settled(stamp: Stamp, hashed_at: int | None) -> bool:
    return hashed_at is not None and hashed_at - max(stamp[4], stamp[5]) >= SETTLED_NS


def _memo_file(stamp: Stamp) -> Path:
    name = hashlib.sha256(repr(stamp).encode()).hexdigest()[:40]
    return cache_dir() / "digests" / name


def _hashed(path: Path, stamp: Stamp) -> str:
    """Hash the file whose stamp is ``stamp`` and memoise the digest: in this process, and
    in the cache directory when it is settled (:data:`SETTLED_NS`), so that a later run keys
    the file without reading it."""
    start = time.time_ns()
    digest = _sha256(path)
    after = _stat(path)
    _DIGESTS[stamp] = digest
    if after is None or _stamp(path, after) != stamp:
        return digest  # it changed while being read: no claim on when these bytes were
    _HASHED_AT[stamp] = start
    if _settled(stamp, start):
        # a memo that cannot be written is only a digest computed again next time
        with contextlib.suppress(OSError):
            _replace(_memo_file(stamp), lambda f: f.write(f"{digest} {start}\n".encode()))
    return digest


def _recalled(stamp: Stamp) -> str | None:
    """The settled digest an earlier run memoised for this exact stamp, if any."""
    try:
        digest, start = _memo_file(stamp).read_text().split()
        hashed_at = int(start)
    except (OSError, ValueError):
        return None
    if len(digest) != 64 or not _settled(stamp, hashed_at):
        return None
    _DIGESTS[stamp] = digest
    _HASHED_AT[stamp] = hashed_at
    return digest


_DIGESTS: dict[Stamp, str] = {}
"""Digests of files seen in this process, by path, device, inode, size, modification and
change times: a sweep resolves every point of a trace, and hashing a gigabyte each time would
dominate. A rewrite within the clock's granularity that keeps the size is missed here; every
parse corrects the entry for the bytes it read (:func:`cached_parse`) unless the digest is
settled (:data:`SETTLED_NS`: then no such rewrite can have happened), and
:func:`confirm_digest` refuses an evaluation whose key was computed from other bytes.
Settled digests are also kept in the cache directory (``digests/``, by stamp) for later
runs."""

_KEYED: dict[str, str] = {}
"""The digest :func:`key_digest` last gave for each path (absolute): what the latest
design-point key of a workload on that file was computed from."""


def _keyed_name(path: str | os.PathLike[str]) -> str:
    return os.path.abspath(path)


def key_digest(path: str | os.PathLike[str]) -> str:
    """:func:`file_digest` for a design-point key: remembered, so that :func:`confirm_digest`
    can tell whether the bytes evaluated are those the key was computed from.

    >>> key_digest("/nonexistent/trace")
    Traceback (most recent call last):
    codesign.errors.InputError: workload.path: /nonexistent/trace: no such file
    """
    digest = file_digest(path)
    _KEYED[_keyed_name(path)] = digest
    return digest


def confirm_digest(path: str | os.PathLike[str], digest: str) -> None:
    """InputError when the last design-point key computed for ``path`` used another digest
    than ``digest`` (that of the bytes just parsed): the file changed in between, and the
    result would be stored under a key for other bytes. The new digest is remembered, and the
    stamp memo was corrected when the new bytes were parsed, so running again (resolving the
    point again) keys the new content.

    The check is per path, not per key: a caller that keeps a resolved point across the
    error and evaluates it again is not refused twice (the harness and executors resolve
    every evaluation afresh). Direct ``generate`` calls after a key was computed and the file
    edited are refused once.

    >>> _KEYED[_keyed_name("/t.lackey")] = "aa"
    >>> confirm_digest("/t.lackey", "aa")
    >>> confirm_digest("/t.lackey", "bb")
    Traceback (most recent call last):
    codesign.errors.InputError: workload.path: /t.lackey changed after its design-point key was computed; run again
    >>> confirm_digest("/t.lackey", "bb"); del _KEYED[_keyed_name("/t.lackey")]
    """  # noqa: E501
    name = _keyed_name(path)
    keyed = _KEYED.get(name)
    if keyed is not None and keyed != digest:
        _KEYED[name] = digest
        raise changed(path)


def changed(path: str | os.PathLike[str]) -> InputError:
    """The error for a file whose bytes are not those its design-point key was computed from.

    >>> str(changed("t.lackey"))
    'workload.path: t.lackey changed after its design-point key was computed; run again'
    """
    return InputError(f"workload.path: {path} changed after its design-point key was "
                      "computed; run again")


def too_large_to_hold(path: str | os.PathLike[str], gzip_ratio: float) -> bool:
    """Whether the input at ``path`` is read a block at a time on every pass rather than
    parsed into memory: its size, counted ``gzip_ratio`` times for gzip data (what it
    inflates to, reckoned), above :func:`~codesign.inputfile.stream_limit`; InputError
    naming ``workload.path`` when it is not a readable regular file.

    >>> too_large_to_hold("/nonexistent/trace", 16)
    Traceback (most recent call last):
    codesign.errors.InputError: workload.path: /nonexistent/trace: no such file
    """
    label = f"workload.path: {path}"
    size = check_regular(path, label).st_size
    gz = is_gzip(next(read_pieces(path, limit=data_limit(), label=label, size=2), b""))
    return size * (gzip_ratio if gz else 1) > stream_limit()


def file_stamp(path: str | os.PathLike[str]) -> Stamp:
    """A regular file's stamp (path, device, inode, size, times, mode: what the digest memo
    is keyed by); InputError naming ``workload.path`` when it is not one. A file whose stamp
    is unchanged has not been written since."""
    p = Path(path)
    return _stamp(p, check_regular(p, _label(p)))


def checksum(arrays: Mapping[str, np.ndarray], material: str) -> np.ndarray:
    """SHA-256 (32 ``uint8``) of ``material`` and every array's name, dtype, shape and bytes.

    >>> a = {"x": np.arange(3, dtype=np.int64)}
    >>> bytes(checksum(a, "m")) == bytes(checksum({"x": np.arange(3, dtype=np.int32)}, "m"))
    False
    """
    h = hashlib.sha256(material.encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        descr = np.lib.format.dtype_to_descr(a.dtype)
        h.update(f"\0{name}\0{descr!r}\0{a.shape!r}\0".encode())
        h.update(a.reshape(-1).view(np.uint8))
    return np.frombuffer(h.digest(), dtype=np.uint8).copy()


def layout_problem(arrays: Mapping[str, np.ndarray], dtypes: Mapping[str, np.dtype | type],
                   fixed: Mapping[str, tuple[int, ...]] | None = None) -> str | None:
    """Why ``arrays`` are not exactly the arrays named in ``dtypes``, of those dtypes, those
    in ``fixed`` of that shape and the others one-dimensional and of one length; None when
    they are.

    >>> ok = {"a": np.zeros(2, np.uint8), "b": np.zeros(2, np.int64)}
    >>> print(layout_problem(ok, {"a": np.uint8, "b": np.int64}))
    None
    >>> layout_problem(ok, {"a": np.uint8, "b": np.int32})
    'array b is int64, expected int32'
    >>> layout_problem({**ok, "b": np.zeros(3, np.int64)}, {"a": np.uint8, "b": np.int64})
    'arrays of 2 and 3 records'
    """
    fixed = fixed or {}
    if set(arrays) != set(dtypes):
        return f"arrays {sorted(arrays)}, expected {sorted(dtypes)}"
    lengths = set()
    for name, dtype in dtypes.items():
        a = arrays[name]
        if a.dtype != np.dtype(dtype):
            return f"array {name} is {a.dtype}, expected {np.dtype(dtype)}"
        if name in fixed:
            if a.shape != fixed[name]:
                return f"array {name} has shape {a.shape}, expected {fixed[name]}"
        elif a.ndim != 1:
            return f"array {name} has shape {a.shape}, expected one dimension"
        else:
            lengths.add(len(a))
    if len(lengths) > 1:
        return "arrays of " + " and ".join(str(n) for n in sorted(lengths)) + " records"
    return None


def store(target: Path, material: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write arrays and their :func:`checksum` as ``.npz`` beside ``target`` and rename:
    readers never see half a file. A cache that cannot be written is a warning, not an
    error: the parse is simply not kept.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "demo-v1-ab.npz"
    >>> store(target, "demo", {"x": np.arange(3)})
    >>> _read_entry(target, "demo", None)[0]["x"].tolist(), _read_entry(target, "other", None)
    ([0, 1, 2], (None, 'checksum mismatch: the arrays are not those stored'))
    """
    if CHECKSUM in arrays:
        raise ValueError(f"a parse may not name an array {CHECKSUM!r}")
    try:
        _replace(target, lambda f: np.savez(f, **arrays, **{CHECKSUM: checksum(arrays,
                                                                               material)}))
    except OSError as exc:
        warnings.warn(f"{target}: cannot write the cache entry ({exc.strerror or exc}); the "
                      "parse is not kept", RuntimeWarning, stacklevel=3)


def _replace(target: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``target`` through a temporary file beside it and rename it into place, so that
    readers never see half a file; OSError (the temporary file removed) when that fails."""
    temporary = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as f:
            temporary = f.name
            write(f)
        os.replace(temporary, target)
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                Path(temporary).unlink(missing_ok=True)
        raise


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _read_entry(entry: Path, material: str,
                check: Check | None) -> tuple[Arrays | None, str | None]:
    """(arrays, None) of a sound entry, (None, None) when there is none, (None, why) when it
    is damaged."""
    try:
        with np.load(entry, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except Exception as exc:  # whatever our own file fails with (zip, npy, zlib, memory)
        return None, _one_line(f"unreadable: {type(exc).__name__}: {exc}")
    stored = arrays.pop(CHECKSUM, None)
    if stored is None:
        return None, "no checksum"
    if stored.dtype != np.uint8 or stored.shape != (32,) \
            or bytes(stored) != bytes(checksum(arrays, material)):
        return None, "checksum mismatch: the arrays are not those stored"
    problem = check(arrays) if check is not None else None
    if problem is not None:
        return None, _one_line(problem)
    return arrays, None


def _discard(entry: Path, why: str, path: Path) -> None:
    # A read-only cache keeps it: the rebuilt entry replaces it, or is not kept (a warning).
    with contextlib.suppress(OSError):
        entry.unlink(missing_ok=True)
    warnings.warn(f"{entry}: damaged cache entry ({why}); discarded, parsing {path} again",
                  RuntimeWarning, stacklevel=3)


@dataclass(frozen=True)
class Readable:
    """What a damaged gzip file yields before the damage: bytes, newlines among them, and why
    it ends there."""

    size: int
    newlines: int
    why: str


class _Damage(Exception):
    """Where gzip data stops inflating: everything before was yielded; ``why`` it stops."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _inflated(raw: Iterator[bytes]) -> Iterator[bytes]:
    """Gzip data given in pieces, inflated piece by piece, one member after another as gunzip
    reads them; at the first damage, :class:`_Damage` after every byte inflated before it
    (to the byte: a chunk that fails is inflated again one byte at a time)."""
    rest = next(raw, b"")
    while rest:
        member = zlib.decompressobj(wbits=31)
        at, step = 0, 1 << 16
        while not member.eof:
            if at >= len(rest):
                more = next(raw, b"")
                if not more:
                    break
                rest, at = rest[at:] + more, 0
            saved = member.copy()
            try:
                piece = member.decompress(rest[at:at + step])
            except zlib.error as exc:
                if step == 1:
                    raise _Damage(str(exc)) from None
                member, step = saved, 1  # replay the damaged chunk byte by byte
                continue
            at += step
            if piece:
                yield piece
        if not member.eof:
            yield member.flush()
            raise _Damage("cut short")
        rest = member.unused_data + rest[at:]
        while len(rest) < 2:  # enough to tell a next member's magic number
            more = next(raw, b"")
            if not more:
                break
            rest += more
        if rest and not is_gzip(rest):
            size, nonzero = len(rest), bool(rest.strip(b"\x00"))
            for more in raw:
                size += len(more)
                nonzero = nonzero or bool(more.strip(b"\x00"))
            if nonzero:  # zero padding is allowed, as gzip.decompress does
                raise _Damage(f"{size:,} bytes of trailing data after the last gzip member")
            break


def readable_prefix(raw: bytes, limit: int | None = None) -> Readable | None:
    """How much of gzip data inflates before the damage, to the byte; None when there is no
    damage within ``limit`` bytes (default: :func:`~codesign.inputfile.data_limit`).

    Counts only, so memory stays small whatever the file inflates to.

    >>> import gzip
    >>> packed = gzip.compress(b"one\\ntwo\\nthree\\n")
    >>> readable_prefix(packed[:-4])
    Readable(size=14, newlines=3, why='cut short')
    >>> print(readable_prefix(packed))
    None
    """
    cap = data_limit() if limit is None else limit
    size = newlines = 0
    try:
        for piece in _inflated(iter([raw])):
            size += len(piece)
            newlines += piece.count(b"\n")
            if size > cap:
                return None
    except _Damage as damage:
        return Readable(size, newlines, damage.why)
    return None


Damaged = Callable[[str, Readable], InputError]
"""A reader's error for a damaged gzip file: from the file's name and what was readable."""


def inflate(raw: bytes, name: str, damaged: Damaged | None = None) -> bytes:
    """Gzip data inflated under :func:`~codesign.inputfile.data_limit`; InputError naming
    ``name`` when it is damaged (``damaged`` words it from what was readable) or too big.

    >>> import gzip
    >>> inflate(gzip.compress(b"abc"), "t.gz")
    b'abc'
    >>> inflate(gzip.compress(b"abc\\n" * 99)[:-9], "t.gz",
    ...         lambda name, r: InputError(f"{name}: {r.newlines} lines, {r.why}"))
    Traceback (most recent call last):
    codesign.errors.InputError: t.gz: 99 lines, cut short
    """
    limit = data_limit()
    try:
        return gunzip(raw, name, limit)
    except InputError as exc:
        # Dropped traceback: it holds gunzip's partly inflated output, up to the cap.
        error = exc.with_traceback(None)
    # A cap overrun has no damage to locate, and locating it would inflate to the cap again.
    if damaged is None or isinstance(error, TooLarge):
        raise error
    readable = readable_prefix(raw, limit)
    if readable is None:  # gunzip saw damage that a replay does not: keep its words
        raise error
    raise damaged(name, readable)


def text_pieces(path: str | os.PathLike[str], damaged: Damaged | None = None, *,
                size: int = 1 << 24, raw_hash: Any = None) -> Iterator[bytes]:
    """A file's text in pieces, inflated when it is gzip data: what :func:`read` and
    :func:`inflate` give, in bounded memory whatever the file's size, with the same checks,
    caps and errors (the damage located to the byte, ``damaged`` wording it). ``size``: the
    pieces read from the file; ``raw_hash`` (a ``hashlib`` object) is updated with the
    file's bytes as they are read.

    >>> import gzip, tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".gz") as f:
    ...     _ = f.write(gzip.compress(b"one\\ntwo\\n")[:-6]); f.flush()
    ...     b"".join(text_pieces(f.name, size=4))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    codesign.errors.InputError: /...gz: corrupt gzip data (cut short) after 8 bytes; expected a complete gzip file
    """  # noqa: E501
    p = Path(path)
    limit = data_limit()
    pieces = read_pieces(p, limit=limit, label=_label(p), size=size)
    if raw_hash is not None:
        pieces = _hashing(pieces, raw_hash)
    first = b""
    for piece in pieces:
        first += piece
        if len(first) >= 2:
            break
    if not is_gzip(first):
        if first:
            yield first
        yield from pieces
        return
    name, total, newlines = str(p), 0, 0
    try:
        for piece in _inflated(_chain(first, pieces)):
            total += len(piece)
            if total > limit:
                raise TooLarge(f"{name}: inflates to more than the {limit:,} bytes this input "
                               "may have")
            newlines += piece.count(b"\n")
            yield piece
    except _Damage as damage:
        if damaged is not None:
            raise damaged(name, Readable(total, newlines, damage.why)) from None
        if damage.why.endswith("gzip member"):
            raise InputError(f"{name}: {damage.why}; expected a complete gzip file") from None
        raise InputError(f"{name}: corrupt gzip data ({damage.why}) after {total:,} bytes; "
                         "expected a complete gzip file") from None


def _hashing(pieces: Iterator[bytes], h: Any) -> Iterator[bytes]:
    for piece in pieces:
        h.update(piece)
        yield piece


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _material(tag: str, version: int, digest: str) -> str:
    # What an entry's checksum covers besides its arrays: an entry copied under another
    # name (another source's digest, another version) fails.
    return f"{tag}\0{version}\0{digest}"


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _entry(tag: str, version: int, digest: str) -> tuple[Path, str]:
    """The cache entry of a parse of content ``digest``, and its checksum's material."""
    return cache_dir() / f"{tag}-v{version}-{digest}.npz", _material(tag, version, digest)


def cached_parse(
    path: str | os.PathLike[str],
    tag: str,
    version: int,
    parse: Callable[[bytes, str], Arrays],
    check: Check | None = None,
    usable: Callable[[Arrays], bool] | None = None,
    damaged: Damaged | None = None,
) -> tuple[Arrays, str]:
    """(parsed arrays, content digest) of a file, parsing it only when not cached before.

    ``tag`` and ``version`` name the cache entry (bump ``version`` when the parse changes).
    ``check`` sees a cached entry's arrays (names, dtypes, shapes, ranges; its checksum is
    verified first): an entry it refuses is damaged, deleted with a warning and rebuilt.
    ``usable`` passes over a sound entry that does not serve this call (it is parsed again,
    silently). ``damaged`` words the error for a corrupt ``.gz`` file (see :func:`inflate`).
    """
    path = Path(path)
    before = _stamp(path, check_regular(path, _label(path)))
    # A settled memo is the digest of these bytes (SETTLED_NS); otherwise they are hashed
    # again, a few MiB at a time (a cached parse never holds the file's bytes), and a memo
    # of other bytes (a rewrite that kept the stamp) is corrected, so the next key is
    # computed from what was read.
    digest = (_DIGESTS.get(before) if _settled(before, _HASHED_AT.get(before)) else None)
    if digest is None:
        digest = _recalled(before) or _hashed(path, before)
    entry, material = _entry(tag, version, digest)
    arrays, problem = _read_entry(entry, material, check)
    if arrays is not None and (usable is None or usable(arrays)):
        return arrays, digest
    if problem is not None:
        _discard(entry, problem, path)
    raw = read(path)
    parsed = hashlib.sha256(raw).hexdigest()
    if parsed != digest:  # rewritten since it was hashed: these bytes are what is parsed
        digest = parsed
        entry, material = _entry(tag, version, digest)
    data = inflate(raw, str(path), damaged) if is_gzip(raw) else raw
    del raw  # the inflated copy is all that is needed from here
    arrays = parse(data, str(path))
    store(entry, material, arrays)
    return arrays, digest
