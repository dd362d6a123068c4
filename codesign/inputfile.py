"""Reading user-named input files with bounded memory and time.

Every file a user names (a sweep spec, a platform profile, a trace, a capture) is read
through :func:`read_bytes`: it must be a regular file (a character device such as
``/dev/zero`` or a FIFO would be read forever or block), and no more than a stated number
of bytes is read. A gzip-compressed input is inflated by :func:`gunzip` under a cap too, so
a small "gzip bomb" cannot exhaust memory. Every refusal is an :class:`InputError` naming
the file, what it is and what was expected.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "a.toml")
>>> _ = open(path, "wb").write(b"x = 1")
>>> read_bytes(path, limit=100)
b'x = 1'
>>> read_bytes("/dev/zero", limit=100)
Traceback (most recent call last):
codesign.errors.InputError: /dev/zero: a character device, not a regular file; expected a file
>>> read_bytes(path, limit=3)  # doctest: +ELLIPSIS
Traceback (most recent call last):
codesign.inputfile.TooLarge: .../a.toml: 5 bytes, more than the 3 bytes this input may have
"""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from collections.abc import Iterator

from codesign.errors import InputError

TEXT_LIMIT = 16 * 2**20
"""Largest spec or platform profile read: 16 MiB (bundled ones are a few KiB)."""

DATA_LIMIT_ENV = "CODESIGN_MAX_INPUT_BYTES"
DATA_LIMIT = 16 * 2**30
"""Largest trace or capture read, decompressed (16 GiB, or ``$CODESIGN_MAX_INPUT_BYTES``):
captures and traces below :func:`stream_limit` are parsed in memory, so the cap bounds
memory, not correctness."""


class TooLarge(InputError):
    """An input over its byte cap (read or inflated): bad input, but no damage to locate."""


def data_limit() -> int:
    """The byte cap for traces and captures: ``$CODESIGN_MAX_INPUT_BYTES`` or 16 GiB.

    >>> data_limit() == DATA_LIMIT or DATA_LIMIT_ENV in os.environ
    True
    """
    return _env_bytes(DATA_LIMIT_ENV, DATA_LIMIT, least=1)


def _env_bytes(name: str, default: int, least: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"${name}: expected a whole number of bytes, got {text!r}") from None
    if value < least:
        raise InputError(f"${name}: expected at least {least} byte{'s' if least != 1 else ''}"
                         f", got {value}")
    return value


STREAM_ENV = "CODESIGN_STREAM_BYTES"
STREAM_ABOVE = 256 * 2**20
"""Traces whose text is larger than this (256 MiB, or ``$CODESIGN_STREAM_BYTES``) are read
a block at a time on every pass rather than parsed into memory once (see
:mod:`workloads.memory.chunked`): the results are the same either way."""


def stream_limit() -> int:
    """Text size above which a trace is streamed: ``$CODESIGN_STREAM_BYTES`` or 256 MiB.

    >>> stream_limit() == STREAM_ABOVE or STREAM_ENV in os.environ
    True
    """
    return _env_bytes(STREAM_ENV, STREAM_ABOVE, least=0)


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def _size(n: int) -> str:
    return f"{n:,} bytes"


def check_regular(path: str | os.PathLike[str], label: str | None = None) -> os.stat_result:
    """The ``stat`` of a regular file; InputError naming what it is otherwise.

    >>> check_regular("/nonexistent/x")
    Traceback (most recent call last):
    codesign.errors.InputError: /nonexistent/x: no such file
    """
    name = label or str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    for test, what in _KINDS:
        if test(st.st_mode):
            raise InputError(f"{name}: {what}, not a regular file; expected a file")
    return st


def read_bytes(path: str | os.PathLike[str], *, limit: int = TEXT_LIMIT,
               label: str | None = None) -> bytes:
    """A regular file's bytes, at most ``limit`` of them; InputError otherwise.

    ``label`` replaces the path at the start of messages (e.g. ``"workload.path: ... "``).
    The file is opened without blocking, so a FIFO swapped in after the check cannot hang.
    """
    return b"".join(read_pieces(path, limit=limit, label=label))


def sha256_of(path: str | os.PathLike[str], *, limit: int = TEXT_LIMIT,
              label: str | None = None) -> str:
    """SHA-256 (hex) of a regular file's bytes, read as :func:`read_bytes` reads them (the
    same checks and errors) but a few MiB at a time: a trace of gigabytes is hashed without
    being held in memory.

    >>> import hashlib, tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     sha256_of(f.name) == hashlib.sha256(b"abc").hexdigest()
    True
    """
    h = hashlib.sha256()
    for chunk in read_pieces(path, limit=limit, label=label, size=1 << 22):
        h.update(chunk)
    return h.hexdigest()


def read_pieces(path: str | os.PathLike[str], *, limit: int = TEXT_LIMIT,
                label: str | None = None, size: int = 1 << 24) -> Iterator[bytes]:
    """A regular file's bytes in pieces of at most ``size``, with :func:`read_bytes`'s checks
    and errors: a file of any size (up to ``limit``) in bounded memory.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abcde"); f.flush()
    ...     list(read_pieces(f.name, size=2))
    [b'ab', b'cd', b'e']
    """
    name = label or str(path)
    check_regular(path, label)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{name}: not a regular file; expected a file")
        if st.st_size > limit:
            raise TooLarge(f"{name}: {_size(st.st_size)}, more than the {_size(limit)} "
                             "this input may have")
        total = 0
        with os.fdopen(fd, "rb", closefd=False) as f:
            while True:
                chunk = f.read(min(size, limit + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:  # grew while being read
                    raise TooLarge(f"{name}: more than the {_size(limit)} this input "
                                     "may have")
                yield chunk
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike[str], *, limit: int = TEXT_LIMIT,
              label: str | None = None) -> str:
    """A regular file's UTF-8 text, at most ``limit`` bytes; InputError otherwise.

    >>> read_text("/dev/null")
    Traceback (most recent call last):
    codesign.errors.InputError: /dev/null: a character device, not a regular file; expected a file
    """
    data = read_bytes(path, limit=limit, label=label)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{label or path}:{line}: not UTF-8 text (byte {exc.start}); "
                         "expected a UTF-8 text file") from None


def is_gzip(data: bytes) -> bool:
    """Whether bytes start with the gzip magic number.

    >>> is_gzip(b"\\x1f\\x8b\\x08"), is_gzip(b"I 1,4")
    (True, False)
    """
    return data[:2] == b"\x1f\x8b"


def gunzip(data: bytes, name: str, limit: int | None = None) -> bytes:
    """Inflate gzip data (every member) to at most ``limit`` bytes; InputError naming
    ``name`` if the data is damaged, cut short, or inflates beyond the cap.

    >>> import gzip
    >>> gunzip(gzip.compress(b"abc") * 2, "t.gz")
    b'abcabc'
    >>> gunzip(gzip.compress(b"abc")[:-3], "t.gz")
    Traceback (most recent call last):
    codesign.errors.InputError: t.gz: corrupt gzip data (cut short) after 3 bytes; expected a complete gzip file
    >>> gunzip(gzip.compress(b"a" * 1000), "t.gz", limit=10)
    Traceback (most recent call last):
    codesign.inputfile.TooLarge: t.gz: inflates to more than the 10 bytes this input may have
    """  # noqa: E501
    cap = data_limit() if limit is None else limit
    out = bytearray()
    rest = data
    while rest:
        inflate = zlib.decompressobj(wbits=31)
        try:
            out += inflate.decompress(rest, cap + 1 - len(out))
            while inflate.unconsumed_tail and len(out) <= cap:
                out += inflate.decompress(inflate.unconsumed_tail, cap + 1 - len(out))
        except zlib.error as exc:
            raise InputError(f"{name}: corrupt gzip data ({exc}) after {len(out):,} bytes; "
                             "expected a complete gzip file") from None
        if len(out) > cap:
            raise TooLarge(f"{name}: inflates to more than the {_size(cap)} this input "
                             "may have")
        if not inflate.eof:
            raise InputError(f"{name}: corrupt gzip data (cut short) after {len(out):,} "
                             "bytes; expected a complete gzip file")
        rest = inflate.unused_data
        if rest and not is_gzip(rest):
            if rest.strip(b"\x00"):  # zero padding is allowed, as gzip.decompress does
                raise InputError(f"{name}: {len(rest):,} bytes of trailing data after the "
                                 "last gzip member; expected a complete gzip file")
            break
    return bytes(out)
