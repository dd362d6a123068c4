"""PyRTL PML unit: the same semantics as ``hwmodels.pml.model``, one operation per cycle.

Structure: three registers -- the "enable PML" control (1 bit), the PML index (16 bits) and
the PML address's frame number (``pa_bits - 12``) -- a range compare of the index against
``entries`` (a power of two: the index's bits above ``log2(entries)`` all clear), a 16-bit
decrementer and the adder that forms the log entry's physical address. Everything else a
PML implementation needs is shared with the page walker: it reads the EPT leaf's accessed
and dirty flags (inputs ``accessed``, ``dirty``) and, told ``ev_update``, writes them back;
the log entry is an 8-byte store (``ev_log``, ``ev_addr``, ``ev_data``) through the core's
memory port.

Timing: an operation's events are outputs of the cycle it is applied in (combinational on the
registered state); the registers update on the next edge. Input ``reset`` (synchronous, one
cycle) restores the power-on state -- disabled, index ``entries - 1``, address 0 -- which is
also every register's ``reset_value``, so a fresh simulator and the exported Verilog start
there.

Ports: inputs ``reset``, ``op`` (3), ``gpa`` (``pa_bits``), ``write``, ``accessed``,
``dirty``, ``value`` (the widest of the index and the frame number); outputs ``ev_full``,
``ev_update``, ``ev_log``, ``ev_slot`` (16), ``ev_addr`` and ``ev_data`` (``pa_bits``),
``ev_index`` (16) -- the fields of :class:`hwmodels.pml.ops.PMLEvent`. Exported Verilog has
the stable module name ``codesign_pml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyrtl
from pyrtl import Const, Input, Output, Register, concat, select

from hwmodels import rtl
from hwmodels.pml.ops import EVENT_FIELDS, PMLBatch, PMLEvent, PMLOp, PMLRequest
from hwmodels.pml.params import INDEX_BITS, PMLParams
from hwmodels.tlb.rtl import drive

MODULE_NAME = "codesign_pml"
"""Top module name of the exported Verilog (stable across parameters)."""

EVENT_PORTS: dict[str, str] = {f: f"ev_{f}" for f in EVENT_FIELDS}
"""``PMLEvent`` field -> output port name."""

INPUTS: tuple[str, ...] = ("op", "gpa", "write", "accessed", "dirty", "value")


@dataclass(frozen=True)
class PMLDesign:
    """A built PML unit and its port widths."""

    params: PMLParams
    block: pyrtl.Block
    inputs: dict[str, int]
    outputs: dict[str, int]


def build_pml(params: PMLParams) -> PMLDesign:
    """Build the PML unit in its own PyRTL block.

    >>> d = build_pml(PMLParams(entries=8, pa_bits=32))
    >>> d.inputs["gpa"], d.inputs["value"], d.outputs["ev_index"], d.outputs["ev_addr"]
    (32, 20, 16, 32)
    """
    p = params
    fb = p.frame_bits
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        reset, op = Input(1, "reset"), Input(3, "op")
        gpa = Input(p.pa_bits, "gpa")
        write, accessed, dirty = Input(1, "write"), Input(1, "accessed"), Input(1, "dirty")
        value = Input(max(INDEX_BITS, fb), "value")
        enabled = Register(1, "enabled", reset_value=0)
        index = Register(INDEX_BITS, "index", reset_value=p.entries - 1)
        base = Register(fb, "base", reset_value=0)

        is_access = op == int(PMLOp.ACCESS)
        wants_dirty = write & ~dirty
        needs = ~accessed | wants_dirty
        low = p.entries.bit_length() - 1  # entries = 2**low: in range iff the high bits are 0
        in_range = index[low:] == 0 if low < INDEX_BITS else Const(1, 1)
        full = is_access & enabled & needs & ~in_range
        update = is_access & needs & ~full
        log = is_access & enabled & wants_dirty & ~full

        drive(enabled, select(op == int(PMLOp.ENABLE), value[0], enabled), reset)
        decremented = (index - 1)[:INDEX_BITS]
        drive(index, select(op == int(PMLOp.SET_INDEX), value[:INDEX_BITS],
                             select(log, decremented, index)), reset)
        drive(base, select(op == int(PMLOp.SET_BASE), value[:fb], base), reset)

        offset = concat(index, Const(0, 3))  # 8 x index
        entry = (concat(base, Const(0, 12)) + offset)[:p.pa_bits]
        zero = Const(0, p.pa_bits)
        outs = {
            "ev_full": full,
            "ev_update": update,
            "ev_log": log,
            "ev_slot": select(log, index, Const(0, INDEX_BITS)),
            "ev_addr": select(log, entry, zero),
            "ev_data": select(log, concat(gpa[12:], Const(0, 12)), zero),
            # the index after this operation: what the register holds next cycle
            "ev_index": select(op == int(PMLOp.SET_INDEX), value[:INDEX_BITS],
                               select(log, decremented, index)),
        }
        for name, v in outs.items():
            port = Output(len(v), name)
            port <<= v
        block.sanity_check()
    return PMLDesign(p, block, {w.name: w.bitwidth for w in block.wirevector_subset(Input)},
                     {w.name: w.bitwidth for w in block.wirevector_subset(Output)})


def stimulus(design: PMLDesign, ops: PMLBatch | Sequence[PMLRequest],
             reset: bool = False) -> list[dict[str, int]]:
    """Input dicts, one cycle per operation (after one ``reset`` cycle if asked)."""
    batch = ops if isinstance(ops, PMLBatch) else PMLBatch.from_requests(ops)
    batch.check(design.params)
    stim = [{**dict.fromkeys(INPUTS, 0), "reset": 1}] if reset else []
    cols = {n: getattr(batch, n).tolist() for n in INPUTS}
    stim += [{**{n: cols[n][i] for n in INPUTS}, "reset": 0} for i in range(len(batch))]
    return stim


class PMLSim:
    """``codesign_pml`` on a PyRTL simulator; the same ``run`` as ``PMLModel``.

    >>> sim = PMLSim(PMLParams(entries=4, pa_bits=32))
    >>> ev = sim.run(PMLBatch.from_requests([PMLRequest.enable(), PMLRequest.access(0x3004)]))
    >>> ev["log"].tolist(), [hex(a) for a in ev["data"]], ev["index"].tolist()
    ([0, 1], ['0x0', '0x3000'], [3, 2])
    """

    def __init__(self, params: PMLParams, backend: str = "fast",
                 design: PMLDesign | None = None) -> None:
        self.design = design if design is not None else build_pml(params)
        self.params = self.design.params
        self.backend = rtl.resolve_backend(backend)
        self.sim = rtl.make_simulator(self.design.block, self.backend)

    def run(self, ops: PMLBatch | Sequence[PMLRequest], reset: bool = False
            ) -> dict[str, object]:
        """Apply ``ops`` (one per cycle); per event field, its values (state carries over)."""
        import numpy as np

        stim = stimulus(self.design, ops, reset)
        out = rtl.run_stimulus(self.sim, stim, list(EVENT_PORTS.values()))
        skip = 1 if reset else 0
        return {f: np.array(out[port][skip:], dtype=np.int64) for f, port in EVENT_PORTS.items()}

    def step(self, req: PMLRequest) -> PMLEvent:
        ev = self.run([req])
        return PMLEvent(*(int(ev[f][0]) for f in EVENT_FIELDS))


def pml_verilog(params: PMLParams) -> str:
    """Flat Verilog of the PML unit, top module ``codesign_pml``.

    >>> pml_verilog(PMLParams(entries=8, pa_bits=32)).count("module codesign_pml(")
    1
    """
    return rtl.export_verilog(build_pml(params).block, MODULE_NAME, codes=(PMLOp,))


def pml_cost(params: PMLParams, tech_nm: float = 130) -> rtl.CostReport:
    """Nets, register bits, estimated area and fmax of the PML unit (PyRTL estimators).

    >>> c = pml_cost(PMLParams())
    >>> c.register_bits, c.fmax_mhz > 0
    (57, True)
    """
    return rtl.cost_report(build_pml(params).block, tech_nm)


__all__ = ["EVENT_PORTS", "MODULE_NAME", "PMLDesign", "PMLSim", "build_pml", "pml_cost",
           "pml_verilog", "stimulus"]
