"""Platform profiles: bundled and user files, overrides, and one-line errors for bad files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codesign.errors import InputError
from codesign.platforms import (
    MAX_COST,
    OVERRIDE_SOURCE,
    Cost,
    bundled,
    is_path,
    load_platform,
    parse_profile,
)
from codesign.tomlfile import parse_toml, read_toml

HEAD = 'schema = 1\nname = "lab"\ndescription = "my machine"\n[costs]\n'
LATENCY = '"memory.latency" = { value = 180, unit = "cycles", source = "measured: lmbench" }\n'
EXIT = '"vmexit.roundtrip" = { value = 1500.5, unit = "cycles", source = "measured: kvm-unit" }\n'


def write(tmp_path: Path, text: str, name: str = "lab.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as info:
        parse_profile(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


# --- bundled profiles -----------------------------------------------------------------------

def test_the_bundled_profiles_include_the_two_anchored_ones() -> None:
    profiles = bundled()
    assert {"kvm-nehalem", "kvm-svm"} <= set(profiles)
    assert all(path.suffix == ".toml" and path.is_file() for path in profiles.values())


@pytest.mark.parametrize("name", sorted(bundled()))
def test_every_bundled_profile_loads_with_a_source_for_every_cost(name: str) -> None:
    p = load_platform(name)
    assert p.name == name
    assert p.origin == f"bundled:{name}"
    assert p.description
    assert "memory.latency" in p.costs
    for key, cost in p.costs.items():
        assert isinstance(cost, Cost)
        assert cost.value >= 0, key
        assert cost.unit.strip(), key
        assert cost.source.strip(), key
        assert cost.source != OVERRIDE_SOURCE


def test_bundled_values_are_the_anchored_numbers() -> None:
    nehalem, svm = load_platform("kvm-nehalem"), load_platform("kvm-svm")
    assert nehalem.value("vmexit.roundtrip") == 2000.0
    assert "SplitX" in nehalem.costs["vmexit.roundtrip"].source
    assert nehalem.value("vmexit.user") == 6732.0
    assert nehalem.value("notify.ioeventfd") == 560.0
    assert svm.value("vmexit.roundtrip") == 1376.0
    assert nehalem.value("memory.latency") == svm.value("memory.latency") == 200.0
    assert nehalem.costs["memory.latency"].source.startswith("assumption")


def test_unknown_bundled_name_suggests_the_closest() -> None:
    with pytest.raises(InputError) as info:
        load_platform("kvm-nehalm")
    assert str(info.value) == ("unknown platform 'kvm-nehalm'; did you mean 'kvm-nehalem'? "
                               "(bundled: arm-mobile, kvm-nehalem, kvm-svm, modern-x86, "
                               "opteron-2008; or give a .toml file)")


def test_a_missing_cost_is_named_with_the_closest() -> None:
    with pytest.raises(InputError) as info:
        load_platform("kvm-svm").value("vmexit.usr")
    assert str(info.value) == ("platform 'kvm-svm' (bundled:kvm-svm) has no cost "
                               "'vmexit.usr'; did you mean 'vmexit.user'?")
    with pytest.raises(InputError) as info:
        load_platform("kvm-svm").require(["memory.latency", "vmexit.usr", "copy.byte"], "m")
    assert str(info.value) == ("platform 'kvm-svm' (bundled:kvm-svm) lacks cost(s) vmexit.usr, "
                               "copy.byte needed by m")


# --- user profiles --------------------------------------------------------------------------

def test_a_user_profile_by_path(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + LATENCY + EXIT)
    p = load_platform(str(path))
    assert (p.name, p.description, p.origin) == ("lab", "my machine", str(path))
    assert p.value("memory.latency") == 180.0
    assert p.value("vmexit.roundtrip") == 1500.5
    assert p.costs["memory.latency"] == Cost(180.0, "cycles", "measured: lmbench")
    assert p.identity() == {"memory.latency": 180.0, "vmexit.roundtrip": 1500.5}
    assert p.to_dict()["costs"]["vmexit.roundtrip"]["source"] == "measured: kvm-unit"


def test_a_relative_profile_path_is_taken_from_base(tmp_path: Path) -> None:
    write(tmp_path, HEAD + LATENCY, name="rel.toml")
    p = load_platform("rel.toml", base=tmp_path)
    assert p.origin == str(tmp_path / "rel.toml")
    assert p.value("memory.latency") == 180.0
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", HEAD + EXIT, name="x.toml")
    assert load_platform("sub/x.toml", base=tmp_path).value("vmexit.roundtrip") == 1500.5


def test_nested_cost_tables_are_dotted_names(tmp_path: Path) -> None:
    text = ('schema = 1\nname = "n"\n[costs.memory]\n'
            'latency = { value = 90, unit = "cycles", source = "s" }\n'
            '[costs.vmexit.roundtrip]\nvalue = 7\nunit = "cycles"\nsource = "t"\n')
    p = parse_profile(write(tmp_path, text))
    assert p.identity() == {"memory.latency": 90.0, "vmexit.roundtrip": 7.0}
    assert p.description == ""


@pytest.mark.parametrize(("name", "expected"), [
    ("kvm-svm", False), ("lab.toml", True), ("dir/lab", True), ("dir\\lab", True),
])
def test_is_path(name: str, expected: bool) -> None:
    assert is_path(name) is expected


def test_a_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_platform("nothere.toml", base=tmp_path)
    assert str(info.value) == f"{tmp_path / 'nothere.toml'}: no such file"


# --- overrides ------------------------------------------------------------------------------

def test_an_override_replaces_the_value_and_says_so() -> None:
    base = load_platform("kvm-nehalem")
    p = base.with_overrides({"memory.latency": 150, "vmexit.roundtrip": "2500.5"})
    assert p.value("memory.latency") == 150.0
    assert p.value("vmexit.roundtrip") == 2500.5
    assert p.costs["memory.latency"].source == OVERRIDE_SOURCE
    assert p.costs["memory.latency"].unit == "cycles"
    assert p.costs["vmexit.user"] == base.costs["vmexit.user"]
    assert base.value("memory.latency") == 200.0  # the original is untouched
    assert p.identity() != base.identity()
    assert base.with_overrides({}) is base


def test_an_unknown_override_suggests_the_closest_cost() -> None:
    with pytest.raises(InputError) as info:
        load_platform("kvm-nehalem").with_overrides({"memory.latncy": 1}, origin="spec.toml:9")
    assert str(info.value) == ("spec.toml:9: platform.memory.latncy: platform 'kvm-nehalem' has "
                               "no such cost; did you mean 'memory.latency'?")


@pytest.mark.parametrize("value", [-1, "fast", True, float("nan"), float("inf"), None])
def test_an_override_must_be_a_number_at_least_zero(value: object) -> None:
    with pytest.raises(InputError) as info:
        load_platform("kvm-nehalem").with_overrides({"memory.latency": value}, origin="--set")
    assert str(info.value) == (f"--set: platform.memory.latency: expected a number >= 0, "
                               f"got {value!r}")


# --- malformed profiles: one line naming the file and, where known, the line ----------------

def test_a_cost_without_source(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + LATENCY + '"vmexit.roundtrip" = { value = 1, unit = "cycles" }\n')
    assert error_of(path) == (f"{path}:6: cost 'vmexit.roundtrip' needs a non-empty 'source' "
                              "string (every number names its source)")


def test_a_cost_with_a_blank_source(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + '"memory.latency" = { value = 1, unit = "c", source = "  " }\n')
    assert error_of(path) == (f"{path}:5: cost 'memory.latency' needs a non-empty 'source' "
                              "string (every number names its source)")


def test_a_cost_without_unit(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + '"memory.latency" = { value = 1, source = "s" }\n')
    assert error_of(path) == (f"{path}:5: cost 'memory.latency' needs a non-empty 'unit' "
                              "string (every number names its source)")


def test_a_cost_with_an_unknown_field(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + LATENCY
                 + '"vmexit.roundtrip" = { value = 1, unit = "c", source = "s", sorce = "t" }\n')
    assert error_of(path) == (f"{path}:6: cost 'vmexit.roundtrip' has unknown field 'sorce'; "
                              "did you mean 'source'?")


@pytest.mark.parametrize(("literal", "shown"), [
    ("-1", "-1"), ("-0.5", "-0.5"), ('"200"', "'200'"), ("true", "True"), ("inf", "inf"),
    ("nan", "nan"), ("[1]", "[1]"),
])
def test_a_cost_value_must_be_a_number_at_least_zero(tmp_path: Path, literal: str,
                                                      shown: str) -> None:
    path = write(tmp_path, HEAD + LATENCY
                 + f'"vmexit.roundtrip" = {{ value = {literal}, unit = "c", source = "s" }}\n')
    assert error_of(path) == (f"{path}:6: cost 'vmexit.roundtrip': value must be a number >= 0, "
                              f"got {shown}")


def test_a_cost_without_value_names_that_cost(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + LATENCY + '"vmexit.roundtrip" = { unit = "c", source = "s" }\n')
    message = error_of(path)
    assert message.startswith(f"{path}:6: cost 'vmexit.roundtrip'")
    assert "value" in message


def test_a_cost_that_is_not_a_table(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + LATENCY + '"vmexit.roundtrip" = 1500\n')
    assert error_of(path) == (f"{path}:6: cost 'vmexit.roundtrip' must be a table "
                              '{ value = ..., unit = "...", source = "..." }')


@pytest.mark.parametrize(("literal", "shown"), [("2", "2"), ("0", "0"), ('"1"', "'1'"),
                                                ("true", "True")])
def test_a_wrong_schema(tmp_path: Path, literal: str, shown: str) -> None:
    path = write(tmp_path, HEAD.replace("schema = 1", f"schema = {literal}") + LATENCY)
    assert error_of(path) == f"{path}:1: schema must be 1, got {shown}"


def test_a_missing_schema(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD.replace("schema = 1\n", "") + LATENCY)
    assert error_of(path) == f"{path}: schema must be 1, got None"


def test_an_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD.replace("description", "descripton") + LATENCY)
    assert error_of(path) == (f"{path}:3: unknown key 'descripton'; did you mean 'description'? "
                              "(expected schema, name, description, costs, hardware)")


def test_an_unknown_top_level_table(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + LATENCY + "[cost]\nx = 1\n")
    assert error_of(path) == (f"{path}:6: unknown key 'cost'; did you mean 'costs'? "
                              "(expected schema, name, description, costs, hardware)")


@pytest.mark.parametrize(("text", "message"), [
    ('schema = 1\n[costs]\n"a" = { value = 1, unit = "c", source = "s" }\n',
     "'name' must be a non-empty string"),
    ('schema = 1\nname = ""\n[costs]\n"a" = { value = 1, unit = "c", source = "s" }\n',
     "'name' must be a non-empty string"),
    ('schema = 1\nname = "x"\n', "a [costs] table with at least one cost is required"),
    ('schema = 1\nname = "x"\n[costs]\n', "a [costs] table with at least one cost is required"),
])
def test_missing_name_or_costs(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    assert error_of(path).endswith(message)


def test_a_bad_description_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD.replace('"my machine"', "3") + LATENCY)
    assert error_of(path) == f"{path}:3: 'description' must be a string"


def test_invalid_toml_names_line_and_column(tmp_path: Path) -> None:
    # column 46 is where `source` starts: the comma before it is missing
    path = write(tmp_path, HEAD + LATENCY
                 + '"vmexit.roundtrip" = { value = 1, unit = "c" source = "s" }\n')
    assert error_of(path) == f"{path}:6:46: invalid TOML: unclosed inline table"


def test_invalid_toml_at_the_end_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + '"memory.latency" = ')
    message = error_of(path)
    assert message.startswith(f"{path}:5:20: invalid TOML: ")


def test_invalid_toml_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + LATENCY + LATENCY)
    message = error_of(path)
    assert message.startswith(f"{path}:6:")
    assert "invalid TOML" in message


def test_load_platform_passes_file_errors_through(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + '"memory.latency" = { value = -3, unit = "c", source = "s" }\n')
    with pytest.raises(InputError) as info:
        load_platform("lab.toml", base=tmp_path)
    assert str(info.value) == (f"{path}:5: cost 'memory.latency': value must be a number >= 0, "
                               "got -3")


def test_read_toml_and_parse_toml_directly(tmp_path: Path) -> None:
    path = write(tmp_path, "a = 1\n[b]\nc = 'x'\n", name="t.toml")
    assert read_toml(path) == ({"a": 1, "b": {"c": "x"}}, "a = 1\n[b]\nc = 'x'\n")
    with pytest.raises(InputError) as info:
        parse_toml("a = 1\nb = [1,\n", "q.toml")
    assert str(info.value).startswith("q.toml:3:1: invalid TOML: ")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "\xe9"\n')
    with pytest.raises(InputError, match=r"latin1\.toml:1: not UTF-8 text \(byte 8\)"):
        read_toml(bad)


# --- limits (issue 11): a cost is finite, at least zero and at most MAX_COST -----------------

@pytest.mark.parametrize(("value", "shown"), [(1e308, "1e+308"), (MAX_COST * 2, "2000000000000.0"),
                                              ("1e13", "'1e13'"),
                                              (10**400, "an integer of 1329 bits")])
def test_an_override_above_the_ceiling_is_an_error(value: object, shown: str) -> None:
    with pytest.raises(InputError) as info:
        load_platform("kvm-nehalem").with_overrides({"memory.latency": value}, origin="--set")
    assert str(info.value) == ("--set: platform.memory.latency: expected at most 1e+12 cycles "
                               f"(the largest a cost may be), got {shown}")


def test_an_override_at_the_ceiling_is_accepted() -> None:
    platform = load_platform("kvm-nehalem").with_overrides({"memory.latency": MAX_COST})
    assert platform.value("memory.latency") == MAX_COST


@pytest.mark.parametrize(("literal", "shown"), [("1e308", "1e+308"), ("1e13", "10000000000000.0"),
                                                ("99999999999999999999",
                                                 "an integer of 67 bits")])
def test_a_profile_cost_above_the_ceiling_names_its_line(tmp_path: Path, literal: str,
                                                         shown: str) -> None:
    path = write(tmp_path, HEAD + LATENCY
                 + f'"vmexit.roundtrip" = {{ value = {literal}, unit = "cycles", source = "s" }}\n')
    assert error_of(path) == (f"{path}:6: cost 'vmexit.roundtrip': expected at most 1e+12 cycles "
                              f"(the largest a cost may be), got {shown}")


def test_every_bundled_cost_is_below_the_ceiling() -> None:
    for name in bundled():
        assert all(c.value <= MAX_COST for c in load_platform(name).costs.values())


@pytest.mark.parametrize(("literal", "problem"), [
    ("nan", "expected a finite number, got nan"),
    ("-inf", "expected a finite number, got -inf"),
    ("99999999999999999999", "expected an integer from -2**63 to 2**63 - 1, got one of 67 bits"),
])
def test_a_hardware_default_must_be_a_finite_64_bit_number(tmp_path: Path, literal: str,
                                                           problem: str) -> None:
    path = write(tmp_path, HEAD + LATENCY + "[hardware]\n"
                 + f'"tlb.l1.entries" = {{ value = {literal}, source = "s" }}\n')
    assert error_of(path) == f"{path}:7: hardware default 'tlb.l1.entries': {problem}"


def test_a_platform_name_with_a_nul_character_is_an_error() -> None:
    with pytest.raises(InputError) as info:
        load_platform("lab\x00.toml")
    assert str(info.value) == ("platform 'lab\\x00.toml': a name or path cannot contain a NUL "
                               "character")


def test_a_profile_that_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # checked before it is opened: reading it would block
    for path, what in (("/dev/zero", "a character device"), ("/dev/urandom", "a character device"),
                       (str(fifo), "a FIFO (named pipe)"), (str(tmp_path), "a directory")):
        with pytest.raises(InputError) as info:
            parse_profile(Path(path))
        assert str(info.value) == f"{path}: {what}, not a regular file; expected a file"


def test_a_deeply_nested_profile_is_one_line_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + LATENCY + '"x" = { value = ' + "[" * 5000 + " }\n")
    assert error_of(path) == (f"{path}: invalid TOML: nested too deeply (at most 32 levels of "
                              "tables and arrays)")


def test_a_clock_of_zero_is_an_error() -> None:
    # net mechanisms divide by the clock: 0 MHz would fail inside the model, not as input
    with pytest.raises(InputError) as info:
        load_platform("kvm-nehalem").with_overrides({"cpu.clock_mhz": "0"}, origin="--set")
    assert str(info.value) == ("--set: platform.cpu.clock_mhz: expected a MHz rate > 0 (cycles "
                               "are turned into time with it), got '0'")
    assert load_platform("kvm-nehalem").with_overrides({"memory.latency": 0}).value(
        "memory.latency") == 0.0


def test_a_profile_clock_of_zero_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + LATENCY
                 + '"cpu.clock_mhz" = { value = 0, unit = "MHz", source = "s" }\n')
    assert error_of(path) == (f"{path}:6: cost 'cpu.clock_mhz': expected a MHz rate > 0 (cycles "
                              "are turned into time with it), got 0")
