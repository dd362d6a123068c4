"""Parameters of the page-modification-logging (PML) unit.

Intel's PML (Intel SDM Vol. 3C, "Page-Modification Logging"; the KVM PML patch series cover
letter): with accessed and dirty flags for EPT enabled, the processor appends the
guest-physical address of every write that sets an EPT dirty flag to a 4 KiB log of 512
eight-byte entries in memory, at the *PML address*, and counts a 16-bit *PML index* down
from 511. An access that needs an accessed or dirty flag set while the index is outside
0..511 is a page-modification log-full event: a VM exit, before any flag is set and before
the access happens. So the hypervisor takes one exit per 512 dirty pages instead of one
write-protection fault per page.

``entries`` is architectural (512) on every Intel core that has PML; it is a parameter here
so that a study can ask what a longer or shorter log would save (the log itself lives in
memory: the unit's area hardly depends on it). ``pa_bits`` is the physical-address width of
the PML address and of the logged guest-physical addresses (52, the architectural maximum;
tests use narrower ones).

>>> PMLParams().entries, PMLParams().index_bits
(512, 16)
>>> PMLParams(entries=500)
Traceback (most recent call last):
...
ValueError: pml.entries: expected a power of two from 1 to 32768, got 500
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

INDEX_BITS = 16
"""Width of the PML index (a 16-bit VM-execution control field, Intel SDM)."""

ENTRIES = 512
"""Log entries: a 4 KiB page of 8-byte guest-physical addresses (Intel SDM; KVM's
``PML_ENTITY_NUM``)."""

PA_BITS_RANGE = (13, 52)


@dataclass(frozen=True)
class PMLParams:
    """Geometry of the PML unit (see the module)."""

    entries: int = ENTRIES
    pa_bits: int = 52

    def __post_init__(self) -> None:
        e = self.entries
        if not (isinstance(e, int) and 1 <= e <= 1 << (INDEX_BITS - 1) and e & (e - 1) == 0):
            raise ValueError(f"pml.entries: expected a power of two from 1 to "
                             f"{1 << (INDEX_BITS - 1)}, got {e}")
        lo, hi = PA_BITS_RANGE
        if not (isinstance(self.pa_bits, int) and lo <= self.pa_bits <= hi):
            raise ValueError(f"pml.pa_bits: expected {lo} .. {hi}, got {self.pa_bits}")

    @property
    def index_bits(self) -> int:
        """Width of the PML index register."""
        return INDEX_BITS

    @property
    def frame_bits(self) -> int:
        """Width of a 4 KiB frame number (the PML address and the logged addresses)."""
        return self.pa_bits - 12

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any]) -> PMLParams:
        """From dotted keys ``pml.entries`` and ``pml.pa_bits`` (absent keys: defaults).

        >>> PMLParams.from_flat({"pml.entries": 64}).entries
        64
        """
        d = cls()
        return cls(int(flat.get("pml.entries", d.entries)), int(flat.get("pml.pa_bits", d.pa_bits)))


__all__ = ["ENTRIES", "INDEX_BITS", "PMLParams"]
