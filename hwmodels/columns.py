"""Column batches: a whole array of operations (or events) of a block, one numpy column per
field, the shape every behavioural model's compiled ``run`` takes.

A batch is a frozen dataclass whose fields are the columns and whose ``_dtypes`` maps each
field to its dtype; :class:`Columns` gives it validation (1-D, one length, the dtype),
length, the columns by name, equality and construction from single records.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, eq=False)
... class Pairs(Columns):
...     a: np.ndarray
...     b: np.ndarray
...     _dtypes = {"a": np.uint8, "b": np.int64}
>>> p = Pairs.from_rows([(1, 10), (2, 20)])
>>> len(p), p.b.tolist(), p == Pairs.from_rows([(1, 10), (2, 20)])
(2, [10, 20], True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any

import numpy as np


class Columns:
    """Shared behaviour of the column batches: validation, length, equality, construction."""

    _dtypes: dict[str, type]

    def __post_init__(self) -> None:
        n = None
        for f in fields(self):  # type: ignore[arg-type]
            arr = np.ascontiguousarray(getattr(self, f.name), dtype=self._dtypes[f.name])
            if arr.ndim != 1 or (n is not None and len(arr) != n):
                raise ValueError(f"{f.name}: expected a 1-D array of length {n}, got {arr.shape}")
            n = len(arr)
            object.__setattr__(self, f.name, arr)

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))  # type: ignore[arg-type]

    def columns(self) -> dict[str, np.ndarray]:
        """Field name -> array."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_rows(cls, rows: Iterable[Iterable[Any]]) -> Any:
        """Columns from single records (each a sequence of the fields' values, in order)."""
        table = [tuple(int(v) for v in r) for r in rows]
        cols = list(zip(*table, strict=True)) if table else [()] * len(cls._dtypes)
        return cls(*(np.array(c, dtype=d) for c, d in zip(cols, cls._dtypes.values(),
                                                           strict=True)))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            np.array_equal(a, b)
            for a, b in zip(self.columns().values(), other.columns().values(), strict=True)  # type: ignore[attr-defined]
        )

    __hash__ = None  # type: ignore[assignment]


__all__ = ["Columns"]
