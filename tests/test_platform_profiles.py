"""The bundled platform profiles (server to phone, 2008 to today) and the profiles'
``[hardware]`` defaults: every number has a source, and defaults reach the model only for
the keys a mechanism declares and a design point leaves unset."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from codesign.cli import main
from codesign.errors import InputError
from codesign.harness import Point, evaluate, resolve
from codesign.params import specs
from codesign.platforms import Default, bundled, load_platform, parse_profile
from codesign.registry import default_registry

NEW = ("modern-x86", "opteron-2008", "arm-mobile")
ALL = tuple(sorted(bundled()))

# What a non-assumption source may cite: the sources of shared/ANCHORS.md rows.
CITED = ("Landau et al., SplitX, WIOV 2011", "Dall et al., ISCA 2016 / USENIX ATC 2017",
         "Linux kernel mailing list, 2020", "Patterson & Hennessy, COD 5th ed., Ex. 5.14",
         "ChampSim default config")

TINY = {"workload.refs": 2048, "workload.footprint_mb": 1, "hw.cost": False}
COSTS = ('"memory.latency" = { value = 200, unit = "cycles", source = "measured" }\n'
         '"fault.page" = { value = 3000, unit = "cycles", source = "measured" }\n')


def profile(tmp_path: Path, hardware: str, name: str = "lab") -> Path:
    """A user profile with every cost of kvm-nehalem and the given [hardware] table body."""
    costs = "".join(f'"{k}" = {{ value = {c.value}, unit = "{c.unit}", source = "s" }}\n'
                    for k, c in load_platform("kvm-nehalem").costs.items())
    path = tmp_path / f"{name}.toml"
    path.write_text(f'schema = 1\nname = "{name}"\n[costs]\n{costs}[hardware]\n{hardware}')
    return path


def hardware_keys() -> set[str]:
    """Parameter keys of every mechanism and every hardware block."""
    from codesign.hardware import BLOCKS

    keys = {s.key for m in default_registry().mechanisms.values() for s in specs(m.params)}
    return keys | {s.key for b in BLOCKS.values() for s in b.params_specs()}


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as info:
        parse_profile(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


# --- the bundled profiles -------------------------------------------------------------------

def test_the_new_profiles_are_bundled() -> None:
    assert set(NEW) | {"kvm-nehalem", "kvm-svm"} <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_every_bundled_profile_loads_and_says_what_machine_it_is(name: str) -> None:
    p = load_platform(name)
    assert (p.name, p.origin) == (name, f"bundled:{name}")
    assert len(p.description) > 20


def test_all_bundled_profiles_have_the_same_cost_keys() -> None:
    keys = {name: set(load_platform(name).costs) for name in ALL}
    first = keys[ALL[0]]
    assert all(k == first for k in keys.values()), {n: k ^ first for n, k in keys.items()}
    assert {"cpu.cycles_per_ref", "tlb.flush", "tlb.invlpg", "ipi.shootdown",
            "syscall.entry", "vmexit.user", "hypercall.null", "notify.ioeventfd",
            "pv.update", "pv.validate_page"} <= first


@pytest.mark.parametrize("name", ALL)
def test_every_bundled_profile_serves_every_mechanism(name: str) -> None:
    p = load_platform(name)
    for mechanism in default_registry().mechanisms.values():
        p.require(mechanism.costs, f"mechanism {mechanism.name!r}")


def _named_or_assumed(source: str) -> bool:
    return source.startswith("assumption: ") or source.startswith(CITED)


@pytest.mark.parametrize("name", ALL)
def test_every_source_names_an_anchor_or_is_an_assumption(name: str) -> None:
    p = load_platform(name)
    sources = {f"cost {k}": c.source for k, c in p.costs.items()}
    sources |= {f"hardware {k}": d.source for k, d in p.hardware.items()}
    for what, source in sources.items():
        assert source.strip(), what
        assert _named_or_assumed(source), f"{name} {what}: {source}"
        if source.startswith("Dall et al."):  # ANCHORS.md marks these rows as transcribed
            assert "(secondary transcription)" in source, f"{name} {what}"


def test_the_textbook_base_and_the_assumptions_are_labelled() -> None:
    for name in ALL:
        p = load_platform(name)
        assert p.value("cpu.cycles_per_ref") == 1.0
        assert p.costs["cpu.cycles_per_ref"].source.startswith("Patterson & Hennessy")
        assert "assumption" in p.costs["cpu.cycles_per_ref"].source
        for key in ("tlb.flush", "tlb.invlpg", "ipi.shootdown", "syscall.entry"):
            assert p.costs[key].source.startswith("assumption: "), (name, key)


def test_the_eras_and_machines_differ_where_they_should() -> None:
    modern, opteron, phone = (load_platform(n) for n in NEW)
    assert modern.value("vmexit.roundtrip") == 1376.0  # LKML 2020, AMD SVM
    assert opteron.value("vmexit.roundtrip") > modern.value("vmexit.roundtrip")
    assert opteron.value("cpu.clock_mhz") < modern.value("cpu.clock_mhz")
    assert phone.value("ipi.shootdown") < modern.value("ipi.shootdown")  # broadcast TLBI
    assert phone.value("vmexit.kernel") > modern.value("vmexit.kernel")  # split-mode KVM/ARM
    assert "Barcelona" in opteron.description and "ARMv8-A" in phone.description
    for p in (opteron, phone):
        assert p.costs["vmexit.roundtrip"].source.startswith("assumption: ")


@pytest.mark.parametrize("name", ALL)
def test_bundled_hardware_defaults_are_real_parameters(name: str) -> None:
    p = load_platform(name)
    assert all(isinstance(d, Default) for d in p.hardware.values())
    assert set(p.hardware) <= hardware_keys(), name


def test_the_phone_has_small_tlbs_and_the_2008_server_its_era() -> None:
    phone, opteron = load_platform("arm-mobile"), load_platform("opteron-2008")
    values = {k: d.value for k, d in phone.hardware.items()}
    assert values["tlb.l1.entries"] == values["tlb.l1.ways"] < 64  # fully associative
    assert 1000 <= values["tlb.l2.entries"] < 1536
    assert opteron.hardware["tlb.pcid"].value is False
    assert opteron.hardware["tlb.l2.entries"].value == 512
    modern = load_platform("modern-x86").hardware
    assert modern["tlb.l2.entries"].source.startswith("ChampSim default config")


@pytest.mark.parametrize("name", ALL)
def test_every_profile_prices_the_data_cache_levels_with_sources(name: str) -> None:
    """The data cache's load-to-use latencies are platform costs (so ``--set
    platform.cache.l1.latency=N`` works and sweeping one keeps the hardware key), each with
    its source, rising from L1 to memory; its geometry is a ``[hardware]`` default with its
    source, and builds a valid hierarchy."""
    from codesign.hardware import CacheKeys

    p = load_platform(name)
    latencies = [p.value(f"cache.{lv}.latency") for lv in ("l1", "l2", "llc")]
    assert 0 < latencies[0] < latencies[1] < latencies[2] < p.value("memory.latency")
    for lv in ("l1", "l2", "llc"):
        c = p.costs[f"cache.{lv}.latency"]
        assert c.unit == "cycles" and c.source.startswith("assumption: "), (name, lv)
    keys = {s.key for s in specs(CacheKeys)}
    assert keys <= set(p.hardware), (name, keys - set(p.hardware))
    for key in keys:
        assert p.hardware[key].source.strip(), (name, key)
    r = resolve(Point("sequential", "native", name, dict(TINY)))
    hierarchy = CacheKeys.to_hw(r.mechanism_params)
    assert hierarchy.l1.size == p.hardware["cache.l1.size"].value
    assert hierarchy.inclusion == p.hardware["cache.inclusion"].value


def test_a_cache_latency_can_be_set_from_the_command_line() -> None:
    def run(*more: str) -> dict:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            status = main(["run", "--workload", "random", "--mechanism", "nested",
                           "--set", "workload.refs=4000", "--set", "hw.cost=false",
                           "--set", "workload.footprint_mb=16", "--json", *more])
        assert status == 0, err.getvalue()
        return json.loads(out.getvalue())

    base = run()
    slower = run("--set", "platform.cache.l2.latency=25")
    metrics = base.get("metrics", base)
    metrics2 = slower.get("metrics", slower)
    assert metrics2["walk.refs.l2"] == metrics["walk.refs.l2"] > 0
    assert metrics2["cycles.translation"] - metrics["cycles.translation"] == (
        15 * metrics["walk.refs.l2"])


# --- hardware defaults reach the model ------------------------------------------------------

def test_a_default_fills_a_key_the_point_leaves_unset() -> None:
    r = resolve(Point("sequential", "native", "arm-mobile", dict(TINY)))
    assert r.params["tlb.l1.entries"] == 48 and r.params["tlb.l1.ways"] == 48
    assert r.params["host.levels"] == 3
    assert r.mechanism_params.entries == 48
    assert resolve(Point("sequential", "native", "kvm-nehalem", dict(TINY))
                   ).params["tlb.l1.entries"] == 64  # the model's own default


def test_an_explicit_point_value_wins_over_the_default() -> None:
    r = resolve(Point("sequential", "native", "arm-mobile",
                      {**TINY, "tlb.l1.entries": 32, "tlb.l1.ways": 32}))
    assert r.params["tlb.l1.entries"] == 32 and r.params["tlb.l1.ways"] == 32
    assert r.params["host.levels"] == 3  # the others still come from the profile


def test_different_hardware_defaults_give_different_keys(tmp_path: Path) -> None:
    small = profile(tmp_path, '"tlb.l1.entries" = { value = 16, source = "a" }\n'
                              '"tlb.l1.ways" = { value = 16, source = "a" }\n', "small")
    large = profile(tmp_path, '"tlb.l1.entries" = { value = 128, source = "b" }\n'
                              '"tlb.l1.ways" = { value = 8, source = "b" }\n', "large")
    assert load_platform(str(small)).identity() == load_platform(str(large)).identity()
    a = resolve(Point("sequential", "native", str(small), dict(TINY)))
    b = resolve(Point("sequential", "native", str(large), dict(TINY)))
    assert a.key != b.key
    assert (a.params["tlb.l1.entries"], b.params["tlb.l1.entries"]) == (16, 128)
    # The same explicit values make the same point whatever the profile's defaults.
    explicit = {**TINY, "tlb.l1.entries": 32, "tlb.l1.ways": 4}
    assert (resolve(Point("sequential", "native", str(small), explicit)).key
            == resolve(Point("sequential", "native", str(large), explicit)).key)


def test_undeclared_keys_are_ignored(tmp_path: Path) -> None:
    path = profile(tmp_path, '"nic.queues" = { value = 8, source = "s" }\n'
                             '"no.such.key" = { value = "x", source = "s" }\n'
                             '"tlb.l1.entries" = { value = 32, source = "s" }\n')
    native = resolve(Point("sequential", "native", str(path), dict(TINY)))
    assert "nic.queues" not in native.params and "no.such.key" not in native.params
    assert native.params["tlb.l1.entries"] == 32
    walk = resolve(Point("walks", "analytic-walk", str(path), {"workload.walks": 10}))
    assert "tlb.l1.entries" not in walk.params
    bare = profile(tmp_path, "", "bare")  # same costs, no defaults: the same point
    assert walk.key == resolve(Point("walks", "analytic-walk", str(bare),
                                     {"workload.walks": 10})).key


def test_the_phone_defaults_reach_the_model() -> None:
    def run(platform: str, extra: dict) -> dict:
        return dict(evaluate(Point("random", "native", platform, {**TINY, **extra})))

    native = {s.key for s in specs(default_registry().mechanism("native").params)}
    phone = load_platform("arm-mobile").hardware
    by_default = run("arm-mobile", {})
    spelled_out = run("arm-mobile", {k: d.value for k, d in phone.items() if k in native})
    server_tlb = run("arm-mobile", {"tlb.l1.entries": 64, "tlb.l1.ways": 4})
    assert by_default == spelled_out
    assert by_default != server_tlb


def test_the_tiny_sequential_point_runs_on_every_profile() -> None:
    for name in ALL:
        m = evaluate(Point("sequential", "native", name, dict(TINY)))
        assert m["refs"] == 2048, name


def test_a_combination_made_invalid_by_a_default_names_the_defaults() -> None:
    with pytest.raises(InputError) as info:
        resolve(Point("sequential", "native", "arm-mobile", {**TINY, "tlb.l1.entries": 64}))
    message = str(info.value)
    assert "\n" not in message
    assert "hardware defaults of platform 'arm-mobile'" in message
    assert "tlb.l1.ways=48" in message and "tlb.l1.entries=48" not in message


def test_an_invalid_default_value_is_an_error_at_resolve(tmp_path: Path) -> None:
    path = profile(tmp_path, '"tlb.l1.entries" = { value = "many", source = "s" }\n')
    with pytest.raises(InputError, match=r"tlb\.l1\.entries: expected an integer .* 'many' "
                                         r"\(with the hardware defaults of platform 'lab'"):
        resolve(Point("sequential", "native", str(path), dict(TINY)))


# --- the [hardware] table in a profile file -------------------------------------------------

def test_provenance_carries_the_defaults_and_overrides_keep_them() -> None:
    p = load_platform("arm-mobile")
    data = p.to_dict()
    assert data["hardware"]["tlb.l1.entries"] == {"value": 48,
                                                  "source": p.hardware["tlb.l1.entries"].source}
    assert "hardware" not in p.identity() and "tlb.l1.entries" not in p.identity()
    assert p.with_overrides({"memory.latency": 100}).hardware == p.hardware
    # kvm-nehalem's defaults are its data cache's geometry and its TLBs
    assert all(k.startswith(("cache.", "tlb."))
               for k in load_platform("kvm-nehalem").to_dict()["hardware"])


def test_nested_hardware_tables_are_dotted_keys(tmp_path: Path) -> None:
    path = tmp_path / "n.toml"
    path.write_text('schema = 1\nname = "n"\n[costs]\n' + COSTS
                    + '[hardware.tlb.l1]\nentries = { value = 8, source = "s" }\n'
                    + '[hardware."tlb.l2.entries"]\nvalue = 0\nsource = "t"\n')
    p = parse_profile(path)
    assert p.hardware == {"tlb.l1.entries": Default(8, "s"), "tlb.l2.entries": Default(0, "t")}
    assert p.defaults(["tlb.l2.entries", "x"]) == {"tlb.l2.entries": 0}


def _with_hardware(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text('schema = 1\nname = "lab"\n[costs]\n' + COSTS + "[hardware]\n" + body)
    return path


def test_a_default_without_source_is_a_one_line_error(tmp_path: Path) -> None:
    path = _with_hardware(tmp_path, '"tlb.l1.ways" = { value = 4, source = "s" }\n'
                                    '"tlb.l1.entries" = { value = 48 }\n')
    assert error_of(path) == (f"{path}:8: hardware default 'tlb.l1.entries' needs a non-empty "
                              "'source' string (every number names its source)")


@pytest.mark.parametrize(("body", "expected"), [
    ('"tlb.l1.entries" = { value = 48, source = " " }\n',
     "hardware default 'tlb.l1.entries' needs a non-empty 'source' string"),
    ('"tlb.l1.entries" = 48\n',
     "hardware default 'tlb.l1.entries' must be a table { value = ..., source = \"...\" }"),
    ('"tlb.l1.entries" = { value = 48, source = "s", unit = "entries" }\n',
     "hardware default 'tlb.l1.entries' has unknown field 'unit'"),
    ('"tlb.l1.entries" = { source = "s" }\n',
     "hardware default 'tlb.l1.entries': value must be a number, a boolean or a string, "
     "got None"),
    ('"tlb.l1.entries" = { value = [48], source = "s" }\n',
     "hardware default 'tlb.l1.entries': value must be a number, a boolean or a string, "
     "got [48]"),
])
def test_malformed_defaults_name_file_line_and_key(tmp_path: Path, body: str,
                                                   expected: str) -> None:
    path = _with_hardware(tmp_path, body)
    message = error_of(path)
    assert message.startswith(f"{path}:7: ")
    assert expected in message


def test_hardware_must_be_a_table(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text('schema = 1\nname = "lab"\nhardware = 3\n[costs]\n' + COSTS)
    assert error_of(path) == (f"{path}:3: 'hardware' must be a table of dotted parameter "
                              "keys")


# --- the command line -----------------------------------------------------------------------

def test_codesign_list_platforms_shows_the_new_profiles() -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["list", "platforms"])
    assert status == 0
    text = out.getvalue()
    for name in NEW:
        line = re.search(rf"^  {re.escape(name)}\s+(.+)$", text, re.M)
        assert line, name
        assert line.group(1) == load_platform(name).description


# --- internal consistency: no feature a profile's text says the machine lacks ---------------

# (what the text says, the hardware key, the value the profile must then set). The text is the
# whole file: header comments, description and every source.
LACKS = (
    (r"\b(neither PCID|no PCIDs?|no process-context identifiers)\b", "tlb.pcid",
     False),
    (r"\b(no VPIDs?|without VPIDs?)\b", "tlb.vpid", False),
    (r"\bno 1 GiB pages\b", "tlb.l1.1g.entries", 0),
    (r"\bno 1 GiB pages\b", "tlb.l2.1g.entries", 0),
    (r"second-level TLB holds 4 KiB pages only", "tlb.l2.2m", False),
)
HAS = (
    (r"\bEPT \+ VPID\b", "tlb.vpid", True),
)


@pytest.mark.parametrize("name", ALL)
def test_no_profile_has_a_feature_its_text_says_the_machine_lacks(name: str) -> None:
    """Issue 12: kvm-nehalem said Nehalem has no PCID and ran with PCIDs and a 1536-entry
    STLB. Whatever a profile's text says the machine lacks (or has), its hardware defaults
    must say too -- a default left unset means the model's own value, which has them all."""
    p = load_platform(name)
    text = bundled()[name].read_text()
    for rules in (LACKS, HAS):
        for pattern, key, value in rules:
            if re.search(pattern, text):
                assert key in p.hardware, f"{name}: its text matches {pattern!r}, {key} unset"
                assert p.hardware[key].value == value, (name, key, p.hardware[key].value)


def test_nehalem_is_nehalem() -> None:
    """The Nehalem core's TLBs (Tom's Hardware / RWT, 2008): 64 + 32 first-level entries,
    a 512-entry 4-way STLB of 4 KiB pages only, no 1 GiB pages, no PCID, VPID."""
    hw = {k: d.value for k, d in load_platform("kvm-nehalem").hardware.items()}
    assert (hw["tlb.l1.entries"], hw["tlb.l1.ways"], hw["tlb.l1.2m.entries"]) == (64, 4, 32)
    assert (hw["tlb.l2.entries"], hw["tlb.l2.ways"], hw["tlb.l2.2m"]) == (512, 4, False)
    assert hw["tlb.l1.1g.entries"] == hw["tlb.l2.1g.entries"] == 0
    assert hw["tlb.pcid"] is False and hw["tlb.vpid"] is True
    # the defaults reach the model: spelled out or by default, the same point
    native = {s.key for s in specs(default_registry().mechanism("nested").params)}
    by_default = dict(evaluate(Point("random", "nested", "kvm-nehalem", TINY)))
    spelled = dict(evaluate(Point("random", "nested", "kvm-nehalem",
                                  {**TINY, **{k: v for k, v in hw.items() if k in native}})))
    assert by_default == spelled
