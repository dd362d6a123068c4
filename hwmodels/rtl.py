"""What every PyRTL block needs: simulators by backend name, stimulus runs, Verilog, cost, Icarus.

Backends: ``"sim"`` (``pyrtl.Simulation``, slow), ``"fast"`` (``FastSimulation``, generated
Python) and ``"compiled"`` (``CompiledSimulation``, generated C built with ``gcc``; falls back to
``"fast"`` with a ``RuntimeWarning`` when no ``gcc`` is on the path). Every simulator is given
``block=`` explicitly. ``run_stimulus`` reads only ``Output`` ports -- all ``CompiledSimulation``
can see -- so whatever a test or report reads must be an ``Output``. For ``"compiled"`` it calls
the generated C entry point directly (see ``_run_compiled`` for why).

PyRTL simulators have no reset and start every register at its ``reset_value``; Verilog is
therefore exported with ``initialize_registers=True`` and without PyRTL's added ``rst``, so the
Verilog starts where the simulators start. A block that needs a reset carries its own input.

Cost figures are PyRTL's own estimators on the block as built (no synthesis pass): the net
count, ``area_estimation`` (an *estimate*, calibrated on a 130 nm standard-cell library; PyRTL
warns it is not validated for publication) and ``TimingAnalysis`` (critical path and fmax, same
library, Dennard-scaled to ``tech_nm``).
"""

from __future__ import annotations

import ctypes
import io
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np
import pyrtl

BACKENDS: tuple[str, ...] = ("sim", "fast", "compiled")


def have_c_compiler() -> bool:
    """True when ``CompiledSimulation`` can build (it calls ``gcc`` by name).

    >>> isinstance(have_c_compiler(), bool)
    True
    """
    return shutil.which("gcc") is not None


def resolve_backend(backend: str) -> str:
    """The backend that will actually run: ``"compiled"`` becomes ``"fast"`` without gcc.

    >>> resolve_backend("fast")
    'fast'
    >>> resolve_backend("verilator")
    Traceback (most recent call last):
    ...
    ValueError: backend: expected one of ('sim', 'fast', 'compiled'), got 'verilator'
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "compiled" and not have_c_compiler():
        warnings.warn(
            "no gcc on PATH: CompiledSimulation unavailable, using FastSimulation",
            RuntimeWarning,
            stacklevel=2,
        )
        return "fast"
    return backend


def io_wires(block: pyrtl.Block) -> list[pyrtl.WireVector]:
    """Inputs and outputs of ``block``, sorted by name."""
    return sorted(block.wirevector_subset((pyrtl.Input, pyrtl.Output)), key=lambda w: w.name)


def make_simulator(block: pyrtl.Block, backend: str = "fast") -> Any:
    """A fresh simulator of ``block`` (registers at their reset values).

    >>> with pyrtl.temp_working_block():
    ...     a = pyrtl.Input(4, "a"); y = pyrtl.Output(5, "y"); y <<= a + 1
    ...     block = pyrtl.working_block()
    >>> sim = make_simulator(block, "compiled")
    >>> run_stimulus(sim, [{"a": 1}, {"a": 7}, {"a": 15}], ["y"])
    {'y': [2, 8, 16]}
    """
    backend = resolve_backend(backend)
    if backend == "sim":
        return pyrtl.Simulation(tracer=None, block=block)
    if backend == "fast":
        return pyrtl.FastSimulation(tracer=None, block=block)
    # CompiledSimulation cannot run without a tracer; give it the cheapest legal one.
    tracer = pyrtl.SimulationTrace(wires_to_track=io_wires(block), block=block)
    return pyrtl.CompiledSimulation(tracer=tracer, block=block)


def run_stimulus(
    sim: Any, stimulus: Sequence[Mapping[str, int]], outputs: Sequence[str]
) -> dict[str, list[int]]:
    """Apply one input dict per cycle; return each named output's value in each of those cycles.

    Outputs are sampled in the cycle their inputs are applied (combinational view of the
    registered state), before the clock edge that updates the state. State carries over
    between calls.
    """
    if isinstance(sim, pyrtl.CompiledSimulation):
        return _run_compiled(sim, stimulus, outputs)
    result: dict[str, list[int]] = {name: [] for name in outputs}
    for d in stimulus:
        sim.step({k: int(v) for k, v in d.items()})
        for name in outputs:
            result[name].append(sim.inspect(name))
    return result


_LIMB = (1 << 64) - 1


def _run_compiled(
    sim: pyrtl.CompiledSimulation, stimulus: Sequence[Mapping[str, int]], outputs: Sequence[str]
) -> dict[str, list[int]]:
    # CompiledSimulation.run in PyRTL 1.0.3 records step 0's outputs for every step of a
    # multi-step run (its unpacking loop resets its offset each step), and stepping one cycle
    # per call costs a ctypes round trip per cycle. So call the compiled entry point directly
    # with numpy buffers laid out as CompiledSimulation lays them out: step-major, 64-bit limbs.
    n = len(stimulus)
    result: dict[str, list[int]] = {name: [] for name in outputs}
    if n == 0:
        return result
    in_len, out_len = sim._inputs_array_length, sim._outputs_array_length
    ins = np.zeros((n, max(in_len, 1)), dtype=np.uint64)
    names = set().union(*(d.keys() for d in stimulus))
    for name in names:
        meta = sim._inputs_metadata[name]
        values = [int(d.get(name, 0)) for d in stimulus]
        if any(v < 0 or v >> meta.bitwidth for v in values):
            raise ValueError(f"{name}: a value does not fit in {meta.bitwidth} bits")
        for limb in range(meta.length):
            ins[:, meta.start + limb] = [(v >> (64 * limb)) & _LIMB for v in values]
    outs = np.zeros((n, max(out_len, 1)), dtype=np.uint64)
    ptr = ctypes.POINTER(ctypes.c_uint64)
    sim._sim_run_all.argtypes = [ctypes.c_uint64, ptr, ptr]
    sim._sim_run_all(n, ins.ctypes.data_as(ptr), outs.ctypes.data_as(ptr))
    for name in outputs:
        meta = sim._outputs_metadata[name]
        if meta.length == 1:
            result[name] = outs[:, meta.start].tolist()
            continue
        for row in outs[:, meta.start : meta.start + meta.length].tolist():
            result[name].append(sum(int(limb) << (64 * i) for i, limb in enumerate(row)))
    return result


def verilog_header(block: pyrtl.Block, module_name: str,
                   codes: Sequence[type[IntEnum]] = ()) -> str:
    """The comment that opens an exported module: its ports with direction and width, and
    the operation codes its inputs take, read from the very definitions the RTL uses.

    >>> from enum import IntEnum
    >>> class Demo(IntEnum):
    ...     NOP = 0
    ...     GO = 1
    >>> with pyrtl.temp_working_block():
    ...     a = pyrtl.Input(4, "a"); y = pyrtl.Output(4, "y"); y <<= a
    ...     print(verilog_header(pyrtl.working_block(), "demo", [Demo]), end="")
    // demo: flat Verilog exported by codesign from its PyRTL model (registers initialised).
    // Ports (direction, bits):
    //   clk  input   1   (every register's clock)
    //   a    input   4
    //   y    output  4
    // Demo codes: NOP=0, GO=1
    """
    def rows(kind: type, direction: str) -> list[tuple[str, str, int]]:
        return sorted((w.name, direction, w.bitwidth) for w in block.wirevector_subset(kind))

    ports = [*rows(pyrtl.Input, "input"), *rows(pyrtl.Output, "output")]
    width = max([len(n) for n, _, _ in ports] + [3])
    lines = [f"// {module_name}: flat Verilog exported by codesign from its PyRTL model "
             "(registers initialised).", "// Ports (direction, bits):",
             f"//   {'clk':<{width}}  input   1   (every register's clock)"]
    lines += [f"//   {n:<{width}}  {d:<6}  {b}" for n, d, b in ports]
    for enum in codes:
        lines.append(f"// {enum.__name__} codes: "
                     + ", ".join(f"{m.name}={int(m)}" for m in enum))
    return "\n".join(lines) + "\n"


def export_verilog(block: pyrtl.Block, module_name: str,
                   codes: Sequence[type[IntEnum]] = ()) -> str:
    """Flat Verilog of ``block`` as one module named ``module_name``; registers initialised;
    a header comment lists its ports and the operation ``codes`` (:func:`verilog_header`).

    >>> with pyrtl.temp_working_block():
    ...     a = pyrtl.Input(4, "a"); y = pyrtl.Output(4, "y"); y <<= a
    ...     block = pyrtl.working_block()
    >>> text = export_verilog(block, "adder_demo")
    >>> "module adder_demo(clk, a, y);" in text, text.startswith("// adder_demo: ")
    (True, True)
    """
    buf = io.StringIO()
    pyrtl.output_to_verilog(
        buf, add_reset=False, block=block, initialize_registers=True, module_name=module_name
    )
    return verilog_header(block, module_name, codes) + buf.getvalue()


@dataclass(frozen=True)
class CostReport:
    """Hardware-cost figures of a block (PyRTL estimators; see the module docstring).

    ``area_estimate_mm2`` is logic plus memory area *estimated* by ``pyrtl.area_estimation``.
    """

    nets: int
    register_bits: int
    logic_area_estimate_mm2: float
    mem_area_estimate_mm2: float
    critical_path_ps: float
    fmax_mhz: float
    tech_nm: float

    @property
    def area_estimate_mm2(self) -> float:
        """Total estimated area (logic + memories)."""
        return self.logic_area_estimate_mm2 + self.mem_area_estimate_mm2

    def as_dict(self) -> dict[str, float]:
        """Flat metrics for the results store (includes the total area estimate)."""
        return {**asdict(self), "area_estimate_mm2": self.area_estimate_mm2}


def _settled(area: float) -> float:
    """``area`` to 12 significant digits. PyRTL's estimate sums floats over a set of nets,
    whose order follows the interpreter's string hashing, so its last bits change from one
    process to the next (seen: 0.42259681728000004 against 0.4225968172799999); rounded far
    below the estimate's own accuracy, a block's area is the same in every process.

    >>> _settled(0.42259681728000004) == _settled(0.4225968172799999) == 0.42259681728
    True
    """
    return float(f"{float(area):.12g}")


def cost_report(block: pyrtl.Block, tech_nm: float = 130) -> CostReport:
    """Nets, register bits, estimated area and fmax of ``block``.

    >>> with pyrtl.temp_working_block():
    ...     a = pyrtl.Input(8, "a"); r = pyrtl.Register(8, "r"); r.next <<= r + a
    ...     y = pyrtl.Output(8, "y"); y <<= r
    ...     block = pyrtl.working_block()
    >>> c = cost_report(block)
    >>> c.register_bits, c.fmax_mhz > 0, c.area_estimate_mm2 > 0
    (8, True, True)
    """
    timing = pyrtl.TimingAnalysis(block=block)
    logic, mem = pyrtl.area_estimation(tech_in_nm=tech_nm, block=block)
    return CostReport(
        nets=len(block.logic),
        register_bits=sum(r.bitwidth for r in block.wirevector_subset(pyrtl.Register)),
        logic_area_estimate_mm2=_settled(logic),
        mem_area_estimate_mm2=_settled(mem),
        critical_path_ps=float(timing.max_length()),
        fmax_mhz=float(timing.max_freq(tech_in_nm=tech_nm)),
        tech_nm=float(tech_nm),
    )


def icarus_available() -> bool:
    """True when both ``iverilog`` and ``vvp`` are on the path.

    >>> isinstance(icarus_available(), bool)
    True
    """
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def _testbench(
    module_name: str,
    inputs: Sequence[pyrtl.WireVector],
    outputs: Sequence[pyrtl.WireVector],
    n_cycles: int,
) -> str:
    total = sum(w.bitwidth for w in inputs)
    lines = ["`timescale 1ns/1ps", "module tb;", "    reg clk = 1'b0;"]
    lines.append(f"    reg [{total - 1}:0] stim [0:{n_cycles - 1}];")
    lines += [f"    reg [{w.bitwidth - 1}:0] {w.name};" for w in inputs]
    lines += [f"    wire [{w.bitwidth - 1}:0] {w.name};" for w in outputs]
    names = ["clk", *(w.name for w in [*inputs, *outputs])]
    ports = ", ".join(f".{n}({n})" for n in names)
    lines.append(f"    {module_name} dut({ports});")
    fmt = " ".join("%h" for _ in outputs)
    lines += [
        "    integer i, f;",
        "    initial begin",
        '        $readmemh("stim.hex", stim);',
        '        f = $fopen("out.txt", "w");',
        f"        for (i = 0; i < {n_cycles}; i = i + 1) begin",
        f"            {{{', '.join(w.name for w in inputs)}}} = stim[i];",
        "            #1;",  # let combinational outputs settle before sampling
        f'            $fwrite(f, "{fmt}\\n", {", ".join(w.name for w in outputs)});',
        "            #4 clk = 1'b1;",
        "            #5 clk = 1'b0;",
        "        end",
        "        $fclose(f);",
        "        $finish;",
        "    end",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"


def run_icarus(
    block: pyrtl.Block,
    stimulus: Sequence[Mapping[str, int]],
    outputs: Sequence[str],
    module_name: str = "dut",
    workdir: str | Path | None = None,
) -> dict[str, list[int]]:
    """Export ``block``, simulate it in Icarus Verilog on ``stimulus``, return outputs per cycle.

    The same contract as ``run_stimulus``: one input dict per cycle, outputs sampled before the
    clock edge. Raises ``RuntimeError`` if Icarus fails or an output is undefined (x/z).

    >>> if icarus_available():
    ...     with pyrtl.temp_working_block():
    ...         a = pyrtl.Input(4, "a"); r = pyrtl.Register(4, "r"); r.next <<= a
    ...         y = pyrtl.Output(5, "y"); y <<= r + a
    ...         block = pyrtl.working_block()
    ...     print(run_icarus(block, [{"a": 1}, {"a": 2}, {"a": 15}], ["y"]))
    ... else:
    ...     print({"y": [1, 3, 17]})
    {'y': [1, 3, 17]}
    """
    if not stimulus:
        raise ValueError("stimulus: expected at least one cycle")
    ins = sorted(block.wirevector_subset(pyrtl.Input), key=lambda w: w.name)
    by_name = {w.name: w for w in block.wirevector_subset(pyrtl.Output)}
    outs = [by_name[n] for n in outputs]
    for w in ins + outs:
        if not _is_plain_identifier(w.name):
            raise ValueError(f"{w.name}: port names must be plain Verilog identifiers")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        d = Path(tmp)
        (d / "dut.v").write_text(export_verilog(block, module_name))
        (d / "tb.v").write_text(_testbench(module_name, ins, outs, len(stimulus)))
        with (d / "stim.hex").open("w") as f:
            for cycle in stimulus:
                word = 0
                for w in ins:
                    word = (word << w.bitwidth) | (int(cycle[w.name]) & ((1 << w.bitwidth) - 1))
                f.write(f"{word:x}\n")
        for cmd in (["iverilog", "-o", "sim.vvp", "tb.v", "dut.v"], ["vvp", "-n", "sim.vvp"]):
            proc = subprocess.run(cmd, cwd=d, capture_output=True, text=True, check=False)
            if proc.returncode:
                raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        rows = (d / "out.txt").read_text().split("\n")[: len(stimulus)]
    result: dict[str, list[int]] = {n: [] for n in outputs}
    for cycle, row in enumerate(rows):
        for name, tok in zip(outputs, row.split(), strict=True):
            if any(c in tok for c in "xXzZ"):
                raise RuntimeError(f"{name}: undefined value {tok!r} in cycle {cycle}")
            result[name].append(int(tok, 16))
    if any(len(v) != len(stimulus) for v in result.values()):
        raise RuntimeError("Icarus produced fewer cycles than the stimulus")
    return result


def _is_plain_identifier(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None and name != "clk"
