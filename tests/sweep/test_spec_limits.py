"""Hostile and oversized sweep specs (issue 11): each is a one-line InputError naming the file
and, where it can, the line or key, never a traceback, a hang or gigabytes of memory; and the
dry run counts a sweep without holding its points."""

from __future__ import annotations

import io
import json
import math
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign import cli
from codesign.errors import InputError
from codesign.harness import KEY_FORMAT, Point, Resolver, digest, resolve
from codesign.platforms import load_platform
from codesign.sweep import expand as expand_module
from codesign.sweep import spec as spec_module
from codesign.sweep.expand import expand, survey, varying
from codesign.sweep.spec import MAX_COMBINATIONS, MAX_NAME, SweepSpec, load_spec, parse_spec
from codesign.sweep.values import Distribution
from codesign.tomlfile import MAX_DEPTH
from tests.conftest import REPO

# Lines 1-7 of every spec file below; what a test adds starts on line 8.
HEAD = """version = 1
name = "t"
[workload]
name = "walks"
walks = 50
[mechanism]
name = "analytic-walk"
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(path: Path | str) -> str:
    with pytest.raises(InputError) as info:
        expand(load_spec(path))
    message = str(info.value)
    assert "\n" not in message
    assert len(message) < 400  # one readable line, not the hostile input echoed back
    return message


def spec_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = write(tmp_path, text)
    return path, load_error(path)


def cli_call(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli.main(list(args))
    return status, out.getvalue(), err.getvalue()


# --- nesting: tomllib and the spec's own walks over tables recurse ---------------------------

@pytest.mark.parametrize("value", [
    "[" * 100_000,
    "[" * 2_000 + "]" * 2_000,
    "{a=" * 5_000 + "1" + "}" * 5_000,
])
def test_deeply_nested_toml_is_one_line_error(tmp_path: Path, value: str) -> None:
    path, message = spec_error(tmp_path, f'version = 1\nname = "t"\na = {value}\n')
    assert message == (f"{path}: invalid TOML: nested too deeply (at most {MAX_DEPTH} levels "
                       "of tables and arrays)")


def test_thousands_of_nested_tables_are_one_line_error(tmp_path: Path) -> None:
    header = "[hardware." + ".".join(["a"] * 3000) + "]"
    path, message = spec_error(tmp_path, HEAD + header + "\nx = 1\n")
    assert message.startswith(f"{path}:")
    assert "key 'hardware.a.a.a...' nests more than 32 levels" in message


def test_a_3000_part_dotted_key_is_one_line_error_naming_its_line(tmp_path: Path) -> None:
    path, message = spec_error(tmp_path, HEAD + "[hardware]\n" + ".".join(["a"] * 3000)
                               + " = 1\n")
    assert message == (f"{path}:9: key 'hardware.a.a.a...' nests more than {MAX_DEPTH} levels "
                       "of tables and arrays (each part of a dotted key is one)")


def test_a_dotted_key_within_the_limit_is_an_unknown_parameter(tmp_path: Path) -> None:
    key = ".".join(["a"] * 20)
    path, message = spec_error(tmp_path, HEAD + f"[hardware]\n{key} = 1\n")
    assert message.startswith(f"{path}:9: unknown parameter {key!r} for mechanism(s) "
                              "analytic-walk")


def test_deep_data_given_as_a_dict_is_one_line_error() -> None:
    deep: dict = {"x": 1}
    for _ in range(5000):  # far past the recursion limit, built without recursion
        deep = {"a": deep}
    data = {"version": 1, "name": "t", "workload": {"name": "walks"},
            "mechanism": {"name": "analytic-walk"}, "hardware": deep}
    with pytest.raises(InputError, match=r"^<spec>: key 'hardware\.a\.a\.a\.\.\.' nests more"):
        parse_spec(data)
    with pytest.raises(InputError, match="nests more than 32 levels"):
        spec_module.override(data, {"guest.levels": "4"})


def test_a_number_of_thousands_of_digits_is_one_line_error(tmp_path: Path) -> None:
    path, message = spec_error(tmp_path, HEAD.replace("walks = 50", "walks = " + "9" * 5000))
    assert message.startswith(f"{path}: invalid TOML: a number too long to read (Exceeds the "
                              "limit (4300 digits)")


def test_an_integer_beyond_64_bits_names_its_line(tmp_path: Path) -> None:
    path, message = spec_error(tmp_path, HEAD.replace("walks = 50", "walks = " + "9" * 30))
    assert message == (f"{path}:5: workload.walks: expected an integer from -2**63 to "
                       "2**63 - 1, got one of 100 bits")


def test_names_in_a_zip_group_must_be_strings() -> None:
    with pytest.raises(InputError) as info:
        parse_spec({"version": 1, "name": "t", "mechanism": {"name": "analytic-walk"},
                    "zip": [{"workload": [1, 2]}]})
    assert str(info.value) == ("<spec>: workload names in a [[zip]] group must be strings, "
                               "got [1, 2]")


def test_a_spec_that_is_not_a_table_is_one_line_error() -> None:
    with pytest.raises(InputError, match=r"^<spec>: a spec must be a table of sections, got list$"):
        parse_spec([1, 2])  # type: ignore[arg-type]


def test_a_sweep_set_value_nested_too_deeply_is_taken_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD)
    with pytest.raises(InputError) as info:
        load_spec(path, overrides={"workload.walks": "[" * 5000})
    assert str(info.value).startswith(f"{path}:5: workload.walks: expected an integer from 1 to ")


# --- sizes: counted before anything is made --------------------------------------------------

def test_sample_points_are_checked_before_any_draw(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def no_draw(*args: object) -> list:
        raise AssertionError("drew before checking the cap")

    monkeypatch.setattr(Distribution, "draw", no_draw)
    path, message = spec_error(tmp_path, HEAD.replace("walks = 50", "walks = {randint=[1,9]}")
                               + "[sample]\nseed = 1\npoints = 1000000000\n")
    assert message == (f"{path}:10: [sample] points = 1,000,000,000 is more than "
                       f"{MAX_COMBINATIONS:,} points; draw fewer")


def test_the_cap_is_on_grid_combinations_times_sample_points(tmp_path: Path) -> None:
    text = (HEAD.replace("walks = 50", "walks = {randint=[1,9]}")
            + "virtualized = [false, true]\n[hardware]\nguest.levels = [4, 5]\n"
            + "[sample]\nseed = 1\npoints = 500001\n")
    path, message = spec_error(tmp_path, text)
    assert message == (f"{path}:13: [sample] points = 500,001 times 4 grid combinations is more "
                       f"than {MAX_COMBINATIONS:,} points; draw fewer")
    assert parse_spec_text(tmp_path, text.replace("500001", "500000")).size() == 2_000_000


def parse_spec_text(tmp_path: Path, text: str) -> SweepSpec:
    return load_spec(write(tmp_path, text, "ok.toml"))


def test_grid_axes_are_counted_before_their_values_are_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real = spec_module.axis_values
    monkeypatch.setattr(spec_module, "axis_values",
                        lambda value, key: made.append(key) or real(value, key))
    text = HEAD.replace("walks = 50", "walks = {range = [1, 1000]}") + (
        "[hardware]\nguest.levels = {range = [1, 1000]}\nhost.levels = {range = [1, 1000]}\n")
    path, message = spec_error(tmp_path, text)
    assert message == (f"{path}:10: host.levels: 1,000 values make 1,000,000,000 combinations "
                       f"with the axes before it; at most {MAX_COMBINATIONS:,} (narrow the axes "
                       "or use [sample])")
    assert "host.levels" not in made


def test_a_list_of_names_counts_towards_the_cap(tmp_path: Path) -> None:
    text = HEAD.replace("walks = 50", "walks = {range = [1, 1000000]}").replace(
        'name = "analytic-walk"', 'name = ["analytic-walk", "native", "nested"]')
    path, message = spec_error(tmp_path, text)
    assert message.startswith(f"{path}:7: mechanism: 3 values make 3,000,000 combinations")


# --- the name, which names the store file ----------------------------------------------------

def test_a_name_longer_than_the_limit_is_an_error(tmp_path: Path) -> None:
    path, message = spec_error(tmp_path, HEAD.replace('name = "t"', f'name = "{"a" * 300}"'))
    assert message == (f"{path}:2: 'name' is 300 characters long; at most {MAX_NAME} (it names "
                       f"the store file, {'a' * 20}....sqlite)")
    ok = parse_spec_text(tmp_path, HEAD.replace('name = "t"', f'name = "{"a" * MAX_NAME}"'))
    assert ok.name == "a" * MAX_NAME


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "", "a b", "a\u00e9"])
def test_a_name_that_is_not_a_safe_file_name_is_an_error(tmp_path: Path, name: str) -> None:
    _, message = spec_error(tmp_path, HEAD.replace('name = "t"', f"name = {json.dumps(name)}"))
    assert "'name' must be a string of letters, digits, '.', '_' or '-'" in message


def test_every_bundled_spec_still_loads() -> None:
    files = [*sorted((REPO / "codesign" / "specs").glob("*.toml")),
             *sorted((REPO / "examples").glob("*.toml")),
             *sorted((REPO / "reports").glob("**/*.toml"))]
    assert len(files) >= 10
    for path in files:
        assert len(load_spec(path).name) <= MAX_NAME


# --- [report] syntax -------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "key", "shown"), [
    ('objectives = ["max:"]', "objectives", "'max:'"),
    ('objectives = ["cycles.per_walk", ""]', "objectives", "''"),
    ('objectives = ["min:  "]', "objectives", "'min:  '"),
    ('metrics = [""]', "metrics", "''"),
    ('metrics = ["cycles.per_walk", " "]', "metrics", "' '"),
])
def test_report_entries_must_be_metric_names(tmp_path: Path, line: str, key: str,
                                             shown: str) -> None:
    path, message = spec_error(tmp_path, HEAD + f"[report]\n{line}\n")
    assert message.startswith(f"{path}:9: report {key}: {shown} is not ")


def test_report_objectives_with_a_prefix_are_accepted(tmp_path: Path) -> None:
    spec = parse_spec_text(tmp_path, HEAD + '[report]\nobjectives = ["max:a.b", "min:c", "d"]\n'
                           'metrics = ["e"]\n')
    assert spec.report["objectives"] == ["max:a.b", "min:c", "d"]


# --- files that are not regular files --------------------------------------------------------

def not_files(tmp_path: Path) -> list[tuple[str, str]]:
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)  # nothing writes to it: opening it for reading would block
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    return [("/dev/zero", "a character device"), ("/dev/urandom", "a character device"),
            (str(fifo), "a FIFO (named pipe)"), (str(folder), "a directory")]


def test_a_spec_that_is_not_a_regular_file_is_one_line_error(tmp_path: Path) -> None:
    for path, what in not_files(tmp_path):
        assert load_error(path) == f"{path}: {what}, not a regular file; expected a file"


def test_a_profile_that_is_not_a_regular_file_is_one_line_error(tmp_path: Path) -> None:
    for path, what in not_files(tmp_path):
        with pytest.raises(InputError) as info:
            load_platform(path)
        assert str(info.value) == f"{path}: {what}, not a regular file; expected a file"
        spec = write(tmp_path, HEAD + f"[platform]\nname = {json.dumps(path)}\n")
        assert load_error(spec) == (f"{spec}:9: {path}: {what}, not a regular file; expected "
                                    "a file")


# --- platform overrides in a spec ------------------------------------------------------------

@pytest.mark.parametrize(("literal", "expected"), [
    ("1e308", "expected at most 1e+12 cycles (the largest a cost may be), got 1e+308"),
    ("[100, 1e13]", "expected at most 1e+12 cycles (the largest a cost may be), "
                    "got 10000000000000.0"),
    ("-1", "expected a number >= 0, got -1"),
    ("nan", "expected a finite number, got nan"),
])
def test_a_platform_override_out_of_range_names_its_line(tmp_path: Path, literal: str,
                                                          expected: str) -> None:
    path, message = spec_error(tmp_path, HEAD + f'[platform]\n"memory.latency" = {literal}\n')
    assert message.startswith(f"{path}:9: ")
    assert message.endswith(expected)


def test_a_sweep_set_of_an_infinite_cost_is_an_error() -> None:
    status, _, err = cli_call("sweep", str(REPO / "examples" / "quickstart.toml"), "--dry-run",
                              "--set", "platform.memory.latency=1e308")
    assert status == 2
    assert err.strip().endswith("platform.memory.latency: expected at most 1e+12 cycles (the "
                                "largest a cost may be), got 1e+308")


# --- the dry run: counted, not expanded ------------------------------------------------------

SPECS = [
    {"workload": {"name": ["walks", "random"], "walks": [10, 20]},
     "mechanism": {"name": ["analytic-walk", "native", "nested"], "virtualized": [False, True]},
     "platform": {"name": ["kvm-nehalem", "kvm-svm"], "memory.latency": [100, 200, 200.0],
                  "fault.page": [1, 2]},
     "hardware": {"guest.levels": [4, 5], "host.levels": [4, 5]},
     "constraints": {"require": ["host.levels >= guest.levels or not virtualized"]}},
    {"workload": {"suite": ["pt-update-heavy", "latency"]},
     "mechanism": {"name": ["native", "nested", "shadow"]}},
    {"workload": {"name": "walks", "walks": {"randint": [1, 1000]},
                  "huge_2m_fraction": [0.0, -0.0]},
     "mechanism": {"name": "analytic-walk", "virtualized": {"choice": [False, True]}},
     "sample": {"seed": 3, "points": 40}},
]


@pytest.mark.parametrize("body", SPECS)
def test_survey_counts_what_expand_finds(body: dict) -> None:
    spec = parse_spec({"version": 1, "name": "t", **body})
    full = expand(spec)
    counted = survey(spec, show=7)
    assert (counted.points, counted.combinations, counted.excluded, counted.incompatible,
            counted.duplicates) == (len(full.points), full.combinations, full.excluded,
                                    full.incompatible, full.duplicates)
    assert [(r.key, r.params) for r in counted.first] == [(r.key, r.params)
                                                          for r in full.points[:7]]
    assert counted.varying == tuple(varying(full.points))


def test_survey_of_a_sweep_without_points_is_the_same_error() -> None:
    spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"},
                       "mechanism": {"name": "analytic-walk", "virtualized": True},
                       "hardware": {"host.levels": 4, "guest.levels": 5},
                       "constraints": {"require": ["host.levels >= guest.levels"]}})
    with pytest.raises(InputError) as full:
        expand(spec)
    with pytest.raises(InputError) as counted:
        survey(spec)
    assert str(counted.value) == str(full.value)


@pytest.mark.parametrize(("body", "why"), [
    ({"mechanism": {"name": "analytic-walk", "virtualized": True},
      "hardware": {"host.levels": [4, 2], "host.page_size": "1G"}},
     "host.page_size=1G needs host.levels >= 3, got 2"),  # the mechanism's parameters
    ({"workload": {"name": "walks", "huge_1g_fraction": [0.0, 0.5]},
      "mechanism": {"name": "analytic-walk", "guest.levels": [4, 2]}},
     "1 GiB guest pages need guest.levels >= 3, got 2"),  # the mechanism's check of both
])
def test_a_bad_point_is_the_same_error_in_the_dry_run(body: dict, why: str) -> None:
    spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"}, **body})
    with pytest.raises(InputError) as full:
        expand(spec)
    with pytest.raises(InputError) as counted:
        survey(spec)
    assert str(counted.value) == str(full.value)
    assert str(full.value).startswith("<spec>: point workload=walks")
    assert why in str(full.value)


def test_the_dry_run_does_not_expand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_expand(*args: object) -> None:
        raise AssertionError("--dry-run expanded the sweep")

    monkeypatch.setattr(expand_module, "expand", no_expand)
    path = write(tmp_path, HEAD.replace("walks = 50", "walks = {range = [1, 3000]}")
                 + "virtualized = [false, true]\n")
    status, out, _ = cli_call("sweep", str(path), "--dry-run", "--show", "2")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "sweep 't': 6000 points (6000 combinations)"
    assert lines[2].endswith("walks × analytic-walk @ kvm-nehalem  workload.walks=1 "
                             "virtualized=false")
    assert lines[-1] == "      ... and 5998 more"


# --- the resolver behind expand and survey: the keys resolve() gives, bit for bit --------------

def material_key(r: object) -> str:
    """The key as the harness computed it before the resolver: digest of the whole material."""
    workload = {"name": r.workload.name, "version": r.workload.version,
                "params": {k: v for k, v in r.params.items() if k.startswith("workload.")}}
    mechanism = {"name": r.mechanism.name, "version": r.mechanism.version,
                 "params": {k: v for k, v in r.params.items()
                            if not k.startswith(("workload.", "platform."))}}
    return digest({"format": KEY_FORMAT, "workload": workload, "mechanism": mechanism,
                   "platform": r.platform.only(r.mechanism.costs).identity()})


@pytest.mark.parametrize("params", [
    {"workload.walks": 10, "virtualized": True, "guest.levels": 5},
    {"workload.walks": 10, "virtualized": False, "platform.memory.latency": 150.5},
    {"workload.huge_2m_fraction": -0.0},
    {"workload.huge_2m_fraction": 0.0},
])
def test_resolver_keys_are_the_digest_of_the_material(params: dict) -> None:
    resolver = Resolver()
    point = Point("walks", "analytic-walk", "kvm-nehalem", params)
    first, again = resolver.resolve(point), resolver.resolve(point)
    assert first.key == again.key == material_key(first) == resolve(point).key


def test_resolver_memo_tells_apart_what_equality_does_not() -> None:
    resolver = Resolver()
    base = {"workload.walks": 10, "virtualized": True}
    assert resolver.resolve(Point("walks", "analytic-walk", params=base)).params["virtualized"]
    with pytest.raises(InputError, match="virtualized: expected true or false, got 1"):
        resolver.resolve(Point("walks", "analytic-walk", params={**base, "virtualized": 1}))
    zero = resolver.resolve(Point("walks", "analytic-walk",
                                  params={"workload.huge_2m_fraction": 0.0}))
    negative = resolver.resolve(Point("walks", "analytic-walk",
                                      params={"workload.huge_2m_fraction": -0.0}))
    assert zero.key != negative.key
    assert math.copysign(1, negative.params["workload.huge_2m_fraction"]) == -1


# --- fuzz: a SweepSpec or an InputError, nothing else ----------------------------------------

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

KEYS = st.sampled_from(["version", "name", "description", "workload", "mechanism", "hardware",
                        "platform", "zip", "sample", "constraints", "report", "require",
                        "seed", "points", "range", "step", "scale", "uniform", "randint",
                        "loguniform", "choice", "walks", "guest.levels", "host", "levels",
                        "virtualized", "suite", "title", "objectives", "metrics", "x", "group",
                        "memory.latency", "a.b.c"]) | st.text(max_size=6)
NUMBERS = (st.integers() | st.integers(-2**64, 2**64) | st.floats(allow_nan=True)
           | st.sampled_from([0, -0.0, 1e308, -1e308, 1e-300, math.inf, math.nan, 2**63,
                              -(2**63) - 1]))
SCALARS = NUMBERS | st.booleans() | st.text(max_size=8) | st.sampled_from(
    ["walks", "analytic-walk", "kvm-nehalem", "max:", "", "/dev/zero", "x.toml", "pow2",
     "host.levels >= guest.levels", "(" * 300, "1+" * 3000 + "1"])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12)


NUMBERS_NEAR = NUMBERS | st.integers(-3, 9) | st.floats(-2, 2)
FORMS = (SCALARS | st.lists(SCALARS, min_size=1, max_size=4)
         | st.fixed_dictionaries({"range": st.lists(NUMBERS_NEAR, min_size=2, max_size=2)},
                                 optional={"step": NUMBERS_NEAR,
                                           "scale": st.sampled_from(["pow2", "linear"])})
         | st.builds(lambda kind, args: {kind: args},
                     st.sampled_from(["uniform", "loguniform", "randint"]),
                     st.lists(NUMBERS_NEAR, min_size=2, max_size=2))
         | st.fixed_dictionaries({"choice": st.lists(SCALARS, min_size=1, max_size=3)})
         | VALUES)
CONSTRAINTS = st.lists(st.sampled_from(
    ["guest.levels", "host.levels", "virtualized", "workload.walks", "1", "0", "1e308",
     "9" * 400, "'a'", "(", ")", " + ", " / ", " // ", " % ", " * ", " == ", " < ", " and ",
     " or ", "not ", " in ", "[1, 2]", "__import__('os')", "x.y", "\x00"]),
    min_size=1, max_size=12).map("".join)
def nested(depth: int) -> dict:
    table: dict = {"x": 1}
    for _ in range(depth):
        table = {"a": table}
    return table


# Values issue 11 found to break something, where a number, a name or a table is expected.
HOSTILE = st.sampled_from([
    "\x00.toml", "/dev/zero", "a" * 300, "max:", "", " ", 10**30, -(10**30), 2**63, math.nan,
    math.inf, -math.inf, 1e308, -0.0, 1e-320, [1, [2]], [math.nan], [], nested(40), nested(2000),
    {"uniform": [-1e308, 1e308]}, {"loguniform": [1e-320, 1e308]}, {"randint": [0, 10**20]},
    {"randint": [0, 1e20]}, {"randint": [-(2**63), 2**63 - 1]},
    {"range": [0.0, 1.0], "step": 1e-300},
    {"range": [1, 1e308], "scale": "pow2"}, {"range": [1, 10**30], "scale": "pow2"},
    {"range": [-1e308, 1e308]}, {"range": [0, 10**30], "step": 10**20}, {"choice": [10**30]},
    {"range": [1, 2], "step": math.inf}, ["walks", 1], [1e308, 1e308],
])
# A spec that parses, and the places a mutation puts a hostile value.
VALID = {"version": 1, "name": "t",
         "workload": {"name": "walks", "walks": {"randint": [1, 100]}},
         "mechanism": {"name": "analytic-walk", "virtualized": [False, True]},
         "sample": {"seed": 1, "points": 3}}
PLACES: list[tuple[tuple[str | None, str | None], st.SearchStrategy]] = [
    ((None, "name"), SCALARS), ((None, "version"), SCALARS),
    (("workload", "name"), FORMS), (("workload", "suite"), FORMS),
    (("workload", "walks"), FORMS), (("workload", "huge_1g_fraction"), FORMS),
    (("mechanism", "name"), FORMS), (("mechanism", "virtualized"), FORMS),
    (("mechanism", "guest"), FORMS), (("hardware", "host.levels"), FORMS),
    (("hardware", "host.page_size"), FORMS),
    (("platform", "name"), FORMS),
    (("platform", "memory.latency"), FORMS), (("platform", "cpu.clock_mhz"), FORMS),
    (("zip", None), st.lists(st.dictionaries(
        st.sampled_from(["workload", "mechanism", "guest.levels", "virtualized", "x"]),
        FORMS, max_size=2), max_size=2) | VALUES),
    (("sample", "seed"), NUMBERS | SCALARS), (("sample", "points"), NUMBERS | SCALARS),
    (("constraints", "require"), st.lists(CONSTRAINTS, max_size=2) | VALUES),
    (("report", "objectives"), st.lists(SCALARS, max_size=2) | VALUES),
    (("report", "metrics"), st.lists(SCALARS, max_size=2) | VALUES),
    (("report", "x"), SCALARS), ((None, "report"), VALUES), ((None, "sample"), VALUES),
]


def mutate(changes: list[tuple[tuple[str | None, str | None], object]]) -> dict:
    data = json.loads(json.dumps(VALID))
    for (section, key), value in changes:
        if section is None or key is None:
            data[section or key] = value
        elif isinstance(data.setdefault(section, {}), dict):
            data[section][key] = value
    return data


def spec_dicts() -> st.SearchStrategy[dict]:
    """Random tables, and a valid spec with hostile values put in one to three places."""
    change = st.tuples(st.sampled_from(range(len(PLACES))), st.booleans()).flatmap(
        lambda c: st.tuples(st.just(PLACES[c[0]][0]), HOSTILE if c[1] else PLACES[c[0]][1]))
    return st.dictionaries(KEYS, VALUES, max_size=6) | st.lists(
        change, min_size=1, max_size=3).map(mutate)


def only_input_errors(run: object) -> None:
    try:
        result = run()
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(result, SweepSpec)


@given(spec_dicts())
@FUZZ
def test_fuzz_spec_dicts_give_a_spec_or_an_input_error(data: dict) -> None:
    def parse_and_count() -> SweepSpec:
        spec = parse_spec(data)
        if spec.size() <= 64:  # the points too: constraints run, parameters are checked
            try:
                survey(spec)
            except InputError as exc:
                assert "\n" not in str(exc)
        return spec

    only_input_errors(parse_and_count)


TOML_BITS = st.sampled_from([
    'version = 1\n', 'name = "t"\n', '[workload]\n', 'name = "walks"\n', '[mechanism]\n',
    'name = "analytic-walk"\n', '[hardware]\n', 'guest.levels = [4, 5]\n', '[sample]\n',
    'seed = 1\n', 'points = 3\n', 'walks = {randint = [1, 1e20]}\n', '[[zip]]\n',
    '"guest.levels" = [4, 5]\n', 'x = {range = [0.0, 1.0], step = 1e-300}\n', '[constraints]\n',
    'require = ["guest.levels > 3"]\n', '[report]\n', 'objectives = ["max:"]\n', 'a = [[[[\n',
    'b = {a={a={a=1}}}\n', 'nan\n', 'inf = inf\n', '= 1\n', '"\n', '[platform]\n',
    '"memory.latency" = 1e308\n', 'name = "/dev/zero"\n', 'walks = 99999999999999999999\n',
    "a = " + "[" * 3000 + "]" * 3000 + "\n", "b = " + "9" * 5000 + "\n",
    ".".join(["c"] * 3000) + " = 1\n", "[" + ".".join(["d"] * 3000) + "]\n",
    'walks = {uniform = [-1e308, 1e308]}\n', 'name = "' + "n" * 300 + '"\n',
])


@given(st.lists(TOML_BITS | st.text(max_size=12), max_size=14))
@FUZZ
def test_fuzz_toml_text_gives_a_spec_or_an_input_error(tmp_path: Path, bits: list[str]) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text("".join(bits), encoding="utf-8", errors="surrogatepass")
    only_input_errors(lambda: load_spec(path))


def test_a_missing_name_is_reported_as_missing_not_at_a_section_key(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('version = 1\n[workload]\nname = "walks"\n[mechanism]\n'
                    'name = "analytic-walk"\n')
    try:
        load_spec(path)
    except InputError as exc:
        message = str(exc)
    else:
        raise AssertionError("a spec without a name loaded")
    assert message == (f"{path}: a 'name' key is required (it names the sweep and its "
                       "default store file)")


def test_sweep_set_takes_one_value_per_parameter(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('version = 1\nname = "s"\n[workload]\nname = "walks"\nwalks = 10\n'
                    '[mechanism]\nname = "analytic-walk"\n')
    with pytest.raises(InputError, match=r"--set workload\.walks: one value, got a list"):
        load_spec(path, overrides={"workload.walks": "[1, 2]"})
    with pytest.raises(InputError, match=r"--set guest\.levels: one value, got a table"):
        load_spec(path, overrides={"guest.levels": "{range = [4, 5]}"})
    spec = load_spec(path, overrides={"mechanism": '["analytic-walk"]', "workload.walks": "3"})
    assert len(expand(spec).points) == 1
