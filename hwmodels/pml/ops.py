"""Operations and events of the PML unit: one operation per clock cycle.

Operations (:class:`PMLOp`):

- ``ACCESS``: a guest-physical access that reached the EPT leaf translating ``gpa``; ``write``
  says whether it writes, ``accessed`` / ``dirty`` are the leaf's EPT flags before it (the
  page walker reads them). It needs a flag set when the accessed flag is clear, or when it
  writes and the dirty flag is clear.
- ``SET_INDEX``: the hypervisor writes the PML index (``value``; 511 after draining the log).
- ``SET_BASE``: the hypervisor writes the PML address (``value``: its 4 KiB frame number).
- ``ENABLE``: the hypervisor sets the "enable PML" control to ``value`` (0 or 1).

Events (:data:`EVENT_FIELDS`), as the SDM orders them: with PML enabled, an access that needs
a flag set while the index is outside ``0 .. entries - 1`` is a *log-full* event (``full``: a
VM exit; no flag is set, the access does not happen). Otherwise the flags are set
(``update``); if the dirty flag went from 0 to 1, the access's guest-physical address with
bits 11:0 cleared (``data``) is written at ``addr`` = PML address + 8 x index (``log``, the
entry ``slot``) and the index is decremented, from 0 to FFFFH (so the next access needing a
flag is a log-full event). With PML disabled the flags are set and nothing is logged.
``index`` is the PML index after the operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import NamedTuple

import numpy as np

from hwmodels.columns import Columns
from hwmodels.pml.params import INDEX_BITS, PMLParams


class PMLOp(IntEnum):
    """Operation codes (the ``op`` port)."""

    NOP = 0
    ACCESS = 1
    SET_INDEX = 2
    SET_BASE = 3
    ENABLE = 4


class PMLRequest(NamedTuple):
    """One operation."""

    op: int = PMLOp.NOP
    gpa: int = 0
    write: int = 0
    accessed: int = 0
    dirty: int = 0
    value: int = 0

    @classmethod
    def access(cls, gpa: int, write: bool = True, accessed: bool = False,
               dirty: bool = False) -> PMLRequest:
        """An access to ``gpa`` whose EPT leaf has the given flags."""
        return cls(PMLOp.ACCESS, gpa, int(write), int(accessed), int(dirty))

    @classmethod
    def set_index(cls, index: int) -> PMLRequest:
        return cls(PMLOp.SET_INDEX, value=index)

    @classmethod
    def set_base(cls, frame: int) -> PMLRequest:
        return cls(PMLOp.SET_BASE, value=frame)

    @classmethod
    def enable(cls, on: bool = True) -> PMLRequest:
        return cls(PMLOp.ENABLE, value=int(on))


REQUEST_DTYPES: dict[str, type] = {
    "op": np.uint8, "gpa": np.int64, "write": np.uint8, "accessed": np.uint8,
    "dirty": np.uint8, "value": np.int64,
}

EVENT_FIELDS: tuple[str, ...] = ("full", "update", "log", "slot", "addr", "data", "index")
"""Per-operation event columns (int64 each), in :class:`PMLEvent` order."""


class PMLEvent(NamedTuple):
    """What one operation did (see the module)."""

    full: int = 0
    update: int = 0
    log: int = 0
    slot: int = 0
    addr: int = 0
    data: int = 0
    index: int = 0


@dataclass(frozen=True, eq=False)
class PMLBatch(Columns):
    """A whole array of operations, one column per operand.

    >>> b = PMLBatch.from_requests([PMLRequest.enable(), PMLRequest.access(0x5123)])
    >>> len(b), b.op.tolist()
    (2, [4, 1])
    """

    op: np.ndarray
    gpa: np.ndarray
    write: np.ndarray
    accessed: np.ndarray
    dirty: np.ndarray
    value: np.ndarray
    _dtypes = REQUEST_DTYPES

    @classmethod
    def from_requests(cls, reqs: Iterable[PMLRequest]) -> PMLBatch:
        return cls.from_rows(reqs)

    def row(self, i: int) -> PMLRequest:
        return PMLRequest(*(int(getattr(self, f.name)[i]) for f in fields(self)))

    def check(self, params: PMLParams) -> None:
        """Raise ``ValueError`` unless every operand fits the unit's ports.

        >>> PMLBatch.from_requests([PMLRequest.set_index(1 << 16)]).check(PMLParams())
        Traceback (most recent call last):
        ...
        ValueError: value: operation 0 (SET_INDEX) has 0x10000, expected < 0x10000
        """
        limits = {"op": len(PMLOp), "gpa": 1 << params.pa_bits, "write": 2, "accessed": 2,
                  "dirty": 2}
        for name, limit in limits.items():
            col = getattr(self, name)
            bad = np.flatnonzero((col < 0) | (col >= limit))
            if len(bad):
                i = int(bad[0])
                raise ValueError(f"{name}: operation {i} has {int(col[i]):#x}, "
                                 f"expected < {limit:#x}")
        value_limit = {PMLOp.SET_INDEX: 1 << INDEX_BITS, PMLOp.SET_BASE: 1 << params.frame_bits,
                       PMLOp.ENABLE: 2}
        for code, limit in value_limit.items():
            sel = np.flatnonzero((self.op == code) & ((self.value < 0) | (self.value >= limit)))
            if len(sel):
                i = int(sel[0])
                raise ValueError(f"value: operation {i} ({code.name}) has "
                                 f"{int(self.value[i]):#x}, expected < {limit:#x}")


__all__ = ["EVENT_FIELDS", "REQUEST_DTYPES", "PMLBatch", "PMLEvent", "PMLOp", "PMLRequest"]
