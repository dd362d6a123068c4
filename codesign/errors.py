"""The one exception type for bad input.

Everything a user can get wrong (a spec file, a ``--set`` value, a store path) raises
:class:`InputError` with a one-line message naming the file, line or key and what was
expected. The CLI prints that line and exits with status 2; it never shows a traceback
for bad input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InputError(Exception):
    """Bad user input: the message is one line, fit to print as is.

    >>> str(InputError("spec.toml:3: expected an integer"))
    'spec.toml:3: expected an integer'
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split("\n")))


def suggest(name: str, valid: Iterable[str]) -> str:
    """A "; did you mean X?" suffix for an unknown name, or "" when nothing is close.

    >>> suggest("guest.level", ["guest.levels", "host.levels"])
    "; did you mean 'guest.levels'?"
    >>> suggest("zzz", ["guest.levels"])
    ''
    """
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def where(path: object, line: int | None = None, column: int | None = None) -> str:
    """``file:line:col`` prefix for a message, leaving out what is unknown.

    >>> where("a.toml", 3, 7), where("a.toml", 3), where("a.toml")
    ('a.toml:3:7', 'a.toml:3', 'a.toml')
    """
    text = str(path)
    if line is not None:
        text += f":{line}"
        if column is not None:
            text += f":{column}"
    return text
