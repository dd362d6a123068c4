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

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def parse_toml(text: str, path: object) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes ``InputError('path:line:col: ...')``.

    >>> parse_toml('a = 1', 'x.toml')
    {'a': 1}
    >>> parse_toml('a = ', 'x.toml')
    Traceback (most recent call last):
    codesign.errors.InputError: x.toml:1:5: invalid TOML: invalid value
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
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
        raise InputError(f"{where(path, line, column)}: invalid TOML: {message}") from None


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Read and parse a TOML file; returns the data and the text (for :func:`key_line`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    return parse_toml(text, path), text


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
    parts = key.split(".")
    dotted = r"\s*\.\s*".join(
        rf"(?:{re.escape(p)}|\"{re.escape(p)}\"|'{re.escape(p)}')" for p in parts
    )
    whole = rf"(?:\"{re.escape(key)}\"|'{re.escape(key)}')"
    pattern = re.compile(rf"^\s*(?:{dotted}|{whole})\s*[=.]")
    table = re.compile(r"^\s*\[")
    for i in range(start, len(lines)):
        if section is None and table.match(lines[i]):
            header = re.compile(r"^\s*\[\[?\s*" + re.escape(key) + r"\s*\]\]?")
            if header.match(lines[i]):
                return i + 1
            continue
        if section is not None and table.match(lines[i]):
            break
        if pattern.match(lines[i]):
            return i + 1
    return None
