"""Reading TOML data files with errors that name the file, line and column.

TOML parsers report syntax errors with a position but know nothing of keys once a file
is parsed; :func:`key_line` finds the line that defines a key so that a later semantic
error (unknown key, value out of range) can still point at it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from codesign.errors import InputError, where
from codesign.inputfile import read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_END = re.compile(r"\s*\(at end of document\)\s*$")

MAX_DEPTH = 32
"""Most tables and arrays nested in one another (the bundled specs need 5): also the most
parts a dotted key may have."""
_KEY_PARTS_SHOWN = 4


def parse_toml(text: str, path: object) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes ``InputError('path:line:col: ...')``.

    >>> parse_toml('a = 1', 'x.toml')
    {'a': 1}
    >>> parse_toml('a = ', 'x.toml')
    Traceback (most recent call last):
    codesign.errors.InputError: x.toml:1:5: invalid TOML: invalid value
    >>> parse_toml('a = ' + '[' * 100_000, 'x.toml')
    Traceback (most recent call last):
    codesign.errors.InputError: x.toml: invalid TOML: nested too deeply (at most 32 levels of tables and arrays)
    """  # noqa: E501
    try:
        data = tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise InputError(f"{path}: invalid TOML: nested too deeply (at most {MAX_DEPTH} levels "
                         "of tables and arrays)") from None
    except ValueError as exc:
        if isinstance(exc, tomllib.TOMLDecodeError):
            raise _decode_error(exc, text, path) from None
        # int() refuses a literal of more than sys.get_int_max_str_digits() digits
        raise InputError(f"{path}: invalid TOML: a number too long to read "
                         f"({str(exc).split(';')[0]})") from None
    check_depth(data, path, text)
    return data


def _decode_error(exc: ValueError, text: str, path: object) -> InputError:
    """A tomllib syntax error as ``InputError('path:line:col: invalid TOML: ...')``."""
    message = str(exc).split("\n")[0]
    match = _POSITION.search(message)
    line = column = None
    if match:
        line, column = int(match.group(1)), int(match.group(2))
        message = message[: match.start()]
    elif _AT_END.search(message):
        last = text.split("\n")
        line, column = len(last), len(last[-1]) + 1
        message = message[: _AT_END.search(message).start()]
    message = message[:1].lower() + message[1:]
    return InputError(f"{where(path, line, column)}: invalid TOML: {message}")


def check_depth(data: Any, path: object, text: str = "", limit: int = MAX_DEPTH) -> None:
    """InputError naming the key (and its line) where ``data`` nests more than ``limit``
    tables and arrays; a dotted key counts one level per part. Iterative, so it cannot itself
    run out of stack.

    >>> check_depth({"a": {"b": [1, [2]]}}, "x.toml", limit=3)
    >>> check_depth({"a": {"b": [1, [2]]}}, "x.toml", limit=2)
    Traceback (most recent call last):
    codesign.errors.InputError: x.toml: key 'a.b' nests more than 2 levels of tables and arrays (each part of a dotted key is one)
    """  # noqa: E501
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(data, 0, ())]
    while stack:
        value, depth, keys = stack.pop()
        if isinstance(value, dict):
            items: Any = ((keys + (str(k),), v) for k, v in value.items())
        elif isinstance(value, list):
            items = ((keys, v) for v in value)
        else:
            continue
        if depth > limit:
            raise InputError(f"{_at_key(path, text, keys)}: key {_dotted(keys)} nests more "
                             f"than {limit} levels of tables and arrays (each part of a dotted "
                             "key is one)")
        stack.extend((v, depth + 1, k) for k, v in items)


def _dotted(keys: tuple[str, ...]) -> str:
    """A key path for a message: only its first parts when it is long."""
    if len(keys) <= 2 * _KEY_PARTS_SHOWN:
        return repr(".".join(keys))
    return repr(".".join(keys[:_KEY_PARTS_SHOWN]) + "...")


def _at_key(path: object, text: str, keys: tuple[str, ...]) -> str:
    """``path:line`` of the first key (or table) of ``keys`` that :func:`key_line` finds."""
    line = None
    if text and keys:
        line = (key_line(text, keys[0], ".".join(keys[1:])) if len(keys) > 1 else None) \
            or key_line(text, None, keys[0])
    return where(path, line)


def read_toml(path: Path, label: str | None = None) -> tuple[dict[str, Any], str]:
    """Read and parse a TOML file; returns the data and the text (for :func:`key_line`).

    Only a regular file of at most :data:`codesign.inputfile.TEXT_LIMIT` bytes is read, so
    ``/dev/zero`` or a FIFO is a one-line error, not a hang.
    """
    try:
        text = read_text(path, label=label)
    except ValueError as exc:  # os.stat refuses a path with a NUL byte
        raise InputError(f"{label or path}: cannot read: {exc}") from None
    return parse_toml(text, label or path), text


def key_line(text: str, section: str | None, key: str) -> int | None:
    """The 1-based line that defines ``key`` in ``[section]`` (None for the top level).

    Best effort, for error messages only: handles bare, quoted and dotted keys.

    >>> key_line('[a]\\nx = 1\\n[b]\\n"y.z" = 2\\n', 'b', 'y.z')
    4
    >>> key_line('[a]\\nx.y = 1\\n', 'a', 'x.y')
    2
    >>> key_line('[a]\\n', None, 'a')
    1
    """
    lines = text.splitlines()
    start, inside = 0, section is None
    if section is not None:
        header = re.compile(r"^\s*\[\[?\s*" + re.escape(section) + r"\s*\]\]?\s*(#.*)?$")
        for i, line in enumerate(lines):
            if header.match(line):
                start, inside = i + 1, True
                break
        if not inside:
            return None
    # A longer key is matched by its first parts: the line still starts with them, and the
    # pattern stays small however many parts a hostile key has.
    parts = key.split(".")[:MAX_DEPTH]
    dotted = r"\s*\.\s*".join(
        rf"(?:{re.escape(p)}|\"{re.escape(p)}\"|'{re.escape(p)}')" for p in parts
    )
    whole = rf"(?:\"{re.escape(key)}\"|'{re.escape(key)}')"
    pattern = re.compile(rf"^\s*(?:{dotted}|{whole})\s*[=.]")
    table = re.compile(r"^\s*\[")
    top = True  # before the first table header, where top-level keys live
    for i in range(start, len(lines)):
        if section is None and table.match(lines[i]):
            top = False  # a key below a header belongs to that table, not the top level
            header = re.compile(r"^\s*\[\[?\s*" + re.escape(key) + r"\s*\]\]?")
            if header.match(lines[i]):
                return i + 1
            continue
        if section is not None and table.match(lines[i]):
            break
        if top and pattern.match(lines[i]):
            return i + 1
    return None
