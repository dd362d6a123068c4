"""Behavioural PML unit: the twin of ``hwmodels.pml.rtl``, operation by operation.

State: the "enable PML" control, the 16-bit PML index and the PML address (a 4 KiB frame
number). Power-on (and ``reset``): disabled, index ``entries - 1``, address 0 -- what KVM
programs before enabling PML (``vmcs_write16(GUEST_PML_INDEX, PML_ENTITY_NUM - 1)``), so that
a fresh unit and its RTL start in the same, usable state. Semantics: ``hwmodels.pml.ops``.

>>> from hwmodels.pml.ops import PMLRequest as R
>>> m = PMLModel(PMLParams(entries=2))
>>> ev = m.run(PMLBatch.from_requests([R.enable(), R.access(0x5123), R.access(0x7000),
...                                     R.access(0x9000), R.set_index(1), R.access(0x9000)]))
>>> ev["log"].tolist(), ev["full"].tolist(), [hex(d) for d in ev["data"]]
([0, 1, 1, 0, 0, 1], [0, 0, 0, 1, 0, 0], ['0x0', '0x5000', '0x7000', '0x0', '0x0', '0x9000'])
>>> ev["index"].tolist()   # 1, 0, then FFFFH: the next access needing a flag exits
[1, 0, 65535, 65535, 1, 0]
"""

from __future__ import annotations

import numba
import numpy as np

from hwmodels.pml.ops import EVENT_FIELDS, PMLBatch, PMLEvent, PMLOp, PMLRequest
from hwmodels.pml.params import INDEX_BITS, PMLParams

_ACCESS, _SET_INDEX, _SET_BASE, _ENABLE = (int(PMLOp.ACCESS), int(PMLOp.SET_INDEX),
                                           int(PMLOp.SET_BASE), int(PMLOp.ENABLE))
_MASK = (1 << INDEX_BITS) - 1


@numba.njit(cache=True)
def _run_kernel(state, entries, frame_mask, pa_mask, op, gpa, write, accessed, dirty, value, out):
    # state: [enabled, index, base frame]
    for i in range(len(op)):
        o = op[i]
        if o == _ACCESS:
            wants_dirty = write[i] != 0 and dirty[i] == 0
            needs = accessed[i] == 0 or wants_dirty
            if state[0] != 0 and needs and state[1] >= entries:
                out[i, 0] = 1  # log-full: a VM exit; no flag set, the access does not happen
            else:
                out[i, 1] = 1 if needs else 0
                if state[0] != 0 and wants_dirty:
                    out[i, 2] = 1
                    out[i, 3] = state[1]
                    out[i, 4] = ((state[2] << 12) + 8 * state[1]) & pa_mask
                    out[i, 5] = (gpa[i] >> 12) << 12
                    state[1] = (state[1] - 1) & _MASK
        elif o == _SET_INDEX:
            state[1] = value[i] & _MASK
        elif o == _SET_BASE:
            state[2] = value[i] & frame_mask
        elif o == _ENABLE:
            state[0] = value[i] & 1
        out[i, 6] = state[1]


class PMLModel:
    """The behavioural PML unit: numpy state, a compiled batch ``run`` and a readable
    ``step``."""

    def __init__(self, params: PMLParams) -> None:
        self.params = params
        self.reset()

    def reset(self) -> None:
        """Power-on state: disabled, index ``entries - 1``, PML address 0."""
        self.state = np.array([0, self.params.entries - 1, 0], dtype=np.int64)

    @property
    def enabled(self) -> bool:
        return bool(self.state[0])

    @property
    def index(self) -> int:
        return int(self.state[1])

    @property
    def base(self) -> int:
        """The PML address's frame number."""
        return int(self.state[2])

    def run(self, ops: PMLBatch, check: bool = True) -> dict[str, np.ndarray]:
        """Apply ``ops`` in order; their events, one int64 column per field."""
        if check:
            ops.check(self.params)
        out = np.zeros((len(ops), len(EVENT_FIELDS)), dtype=np.int64)
        p = self.params
        _run_kernel(self.state, p.entries, (1 << p.frame_bits) - 1, (1 << p.pa_bits) - 1,
                    ops.op, ops.gpa, ops.write, ops.accessed, ops.dirty, ops.value, out)
        return {f: out[:, k].copy() for k, f in enumerate(EVENT_FIELDS)}

    def step(self, req: PMLRequest) -> PMLEvent:
        """Apply one operation; its event."""
        ev = self.run(PMLBatch.from_requests([req]))
        return PMLEvent(*(int(ev[f][0]) for f in EVENT_FIELDS))


__all__ = ["PMLModel"]
