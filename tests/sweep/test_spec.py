"""Sweep specs: what a spec expands to, and a one-line error naming file and line for bad input."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from codesign.errors import InputError
from codesign.harness import Point, resolve, run_resolved
from codesign.sweep.expand import Expansion, expand
from codesign.sweep.spec import load_spec, parse_spec

# Lines 1-6 of every spec file below; what a test adds starts on line 7.
HEAD = """version = 1
name = "t"
[workload]
name = "walks"
[mechanism]
name = "analytic-walk"
"""


def spec(**sections) -> dict:
    data = {"version": 1, "name": "t", "workload": {"name": "walks", "walks": 50},
            "mechanism": {"name": "analytic-walk"}}
    for section, table in sections.items():
        data[section] = {**data.get(section, {}), **table} if isinstance(table, dict) else table
    return data


def points(data: dict) -> Expansion:
    return expand(parse_spec(data))


def params_of(e: Expansion) -> list[dict]:
    return [r.params for r in e.points]


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        expand(load_spec(path))
    message = str(info.value)
    assert "\n" not in message
    return path, message


# --- what a spec expands to -----------------------------------------------------------------

def test_grid_is_the_product_of_its_axes() -> None:
    e = points(spec(workload={"huge_2m_fraction": [0.0, 0.5, 1.0]},
                    mechanism={"virtualized": True},
                    hardware={"guest": {"levels": [4, 5]}, "host.levels": [4, 5]},
                    platform={"name": ["kvm-nehalem", "modern-x86"]}))  # memory.latency differs
    assert (e.combinations, len(e.points), e.excluded, e.duplicates) == (24, 24, 0, 0)
    assert len({r.key for r in e.points}) == 24
    got = {(r.point.platform, r.params["workload.huge_2m_fraction"], r.params["guest.levels"],
            r.params["host.levels"]) for r in e.points}
    assert got == set(itertools.product(["kvm-nehalem", "modern-x86"], [0.0, 0.5, 1.0],
                                        [4, 5], [4, 5]))


def test_platforms_equal_in_the_costs_a_mechanism_uses_are_one_point() -> None:
    """A key hashes only the costs the mechanism declares: analytic-walk reads memory.latency,
    which kvm-nehalem and kvm-svm share, so their points are the same computation."""
    e = points(spec(mechanism={"virtualized": True},
                    platform={"name": ["kvm-nehalem", "kvm-svm"]}))
    assert (e.combinations, len(e.points), e.duplicates) == (2, 1, 1)


def test_a_scalar_is_an_axis_of_one_and_ranges_expand() -> None:
    s = parse_spec(spec(hardware={"guest.levels": {"range": [2, 5]},
                                  "host.levels": {"range": [2, 4], "scale": "pow2"}}))
    assert s.size() == 4 * 2
    assert sorted({(p["guest.levels"], p["host.levels"]) for p in params_of(expand(s))}) == [
        (g, h) for g in (2, 3, 4, 5) for h in (2, 4)]


def test_zip_groups_advance_together() -> None:
    data = spec(hardware={"host.page_size": ["4K", "2M"]},
                zip=[{"guest.levels": [4, 5, 5], "host.levels": [4, 4, 5]},
                     {"workload.seed": [1, 2]}])
    s = parse_spec(data)
    assert s.size() == 2 * 3 * 2
    e = expand(s)
    assert len(e.points) == 12
    pairs = {(p["guest.levels"], p["host.levels"]) for p in params_of(e)}
    assert pairs == {(4, 4), (5, 4), (5, 5)}
    assert {p["workload.seed"] for p in params_of(e)} == {1, 2}


def test_zip_written_as_array_of_tables_in_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + '[[zip]]\n"guest.levels" = [4, 5]\nhost.levels = [4, 5]\n')
    e = expand(load_spec(path))
    assert sorted((p["guest.levels"], p["host.levels"]) for p in params_of(e)) == [(4, 4),
                                                                                   (5, 5)]


SAMPLED = {"workload": {"seed": {"randint": [0, 10**6]},
                        "huge_2m_fraction": {"uniform": [0.0, 0.5]}},
           "hardware": {"guest.levels": [4, 5]}}


def test_sample_is_deterministic_per_seed() -> None:
    def drawn(seed: int) -> list[tuple]:
        e = points(spec(**SAMPLED, sample={"seed": seed, "points": 6}))
        assert e.combinations == len(e.points) == 12  # six draws crossed with two levels
        return [(p["workload.seed"], p["workload.huge_2m_fraction"], p["guest.levels"])
                for p in params_of(e)]

    first = drawn(7)
    assert drawn(7) == first
    assert {g for *_, g in first} == {4, 5}
    assert all(0 <= f <= 0.5 and 0 <= s <= 10**6 for s, f, _ in first)
    other = drawn(8)
    assert {s for s, *_ in other}.isdisjoint({s for s, *_ in first})


def test_sample_in_a_file_is_the_same_as_in_a_dict(tmp_path: Path) -> None:
    path = write(tmp_path, 'version = 1\nname = "t"\n[mechanism]\nname = "analytic-walk"\n'
                 '[workload]\nname = "walks"\nwalks = 50\nseed = { randint = [0, 1000000] }\n'
                 "huge_2m_fraction = { uniform = [0.0, 0.5] }\n"
                 "[hardware]\nguest.levels = [4, 5]\n[sample]\nseed = 7\npoints = 6\n")
    from_file = [r.key for r in expand(load_spec(path)).points]
    from_dict = [r.key for r in points(spec(**SAMPLED, sample={"seed": 7, "points": 6})).points]
    assert from_file == from_dict


def test_constraints_filter_points() -> None:
    e = points(spec(mechanism={"virtualized": [False, True]},
                    hardware={"guest.levels": [4, 5], "host.levels": [4, 5]},
                    constraints={"require": ["host.levels >= guest.levels or not virtualized"]}))
    assert (e.combinations, e.excluded, e.duplicates, len(e.points)) == (8, 1, 2, 5)
    nested = sorted((p["guest.levels"], p["host.levels"]) for p in params_of(e)
                    if p["virtualized"])
    assert nested == [(4, 4), (4, 5), (5, 5)]
    assert sorted(p["guest.levels"] for p in params_of(e) if not p["virtualized"]) == [4, 5]


def test_constraints_on_names() -> None:
    e = points(spec(platform={"name": ["kvm-nehalem", "modern-x86"]},
                    mechanism={"virtualized": [False, True]},
                    constraints={"require": ["platform == 'modern-x86' or not virtualized",
                                             "workload == 'walks'"]}))
    got = sorted((r.point.platform, r.params["virtualized"]) for r in e.points)
    assert got == [("kvm-nehalem", False), ("modern-x86", False), ("modern-x86", True)]
    assert e.excluded == 1


def test_points_differing_only_in_an_inactive_parameter_are_one() -> None:
    e = points(spec(mechanism={"virtualized": [False, True]},
                    hardware={"host": {"levels": [3, 4, 5], "page_size": ["4K", "2M"]}}))
    assert (e.combinations, len(e.points), e.duplicates) == (12, 7, 5)
    native = [p for p in params_of(e) if not p["virtualized"]]
    assert native == [{"workload.walks": 50, "workload.huge_2m_fraction": 0.0,
                       "workload.huge_1g_fraction": 0.0, "workload.seed": 1,
                       "virtualized": False, "guest.levels": 4}]


DOTTED = HEAD + "[hardware]\nguest.levels = [4, 5]\nhost.levels = 5\n"
NESTED = HEAD + "[hardware.guest]\nlevels = [4, 5]\n[hardware.host]\nlevels = 5\n"
QUOTED = HEAD + '[hardware]\n"guest.levels" = [4, 5]\n"host.levels" = 5\n'
INLINE = HEAD + "[hardware]\nguest = { levels = [4, 5] }\nhost = { levels = 5 }\n"
IN_MECHANISM = HEAD + "guest.levels = [4, 5]\nhost.levels = 5\n"


def test_dotted_keys_and_nested_tables_are_the_same(tmp_path: Path) -> None:
    keys = []
    for i, text in enumerate((DOTTED, NESTED, QUOTED, INLINE, IN_MECHANISM)):
        e = expand(load_spec(write(tmp_path, text, name=f"s{i}.toml")))
        assert sorted(p["guest.levels"] for p in params_of(e)) == [4, 5]
        assert {p["host.levels"] for p in params_of(e)} == {5}
        keys.append(sorted(r.key for r in e.points))
    assert all(k == keys[0] for k in keys)


def test_platform_overrides_become_parameters_and_change_keys(tmp_path: Path) -> None:
    plain = points(spec())
    e = points(spec(platform={"name": "kvm-svm", "memory.latency": [100, 250]}))
    assert [p["platform.memory.latency"] for p in params_of(e)] == [100, 250]
    assert [r.platform.value("memory.latency") for r in e.points] == [100.0, 250.0]
    assert len({r.key for r in e.points} | {plain.points[0].key}) == 3
    cycles = [run_resolved(r)["cycles.per_walk"] for r in e.points]
    assert cycles == [24 * 100, 24 * 250]
    # The same override written as a nested table in a file.
    path = write(tmp_path, 'version = 1\nname = "t"\n[workload]\nname = "walks"\nwalks = 50\n'
                 '[mechanism]\nname = "analytic-walk"\n'
                 '[platform]\nname = "kvm-svm"\nmemory.latency = 100\n')
    [r] = expand(load_spec(path)).points
    assert r.key == e.points[0].key
    assert r.key == resolve(Point("walks", "analytic-walk", "kvm-svm",
                                  {"workload.walks": 50, "platform.memory.latency": 100})).key


def test_a_platform_file_relative_to_the_spec(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    write(tmp_path / "profiles", 'schema = 1\nname = "lab"\n[costs]\n'
          '"memory.latency" = { value = 90, unit = "cycles", source = "measured" }\n',
          name="lab.toml")
    path = write(tmp_path, HEAD + '[platform]\nname = "profiles/lab.toml"\n')
    [r] = expand(load_spec(path)).points
    assert r.platform.name == "lab"
    assert run_resolved(r)["cycles.per_walk"] == 24 * 90


@pytest.mark.parametrize("name", ["quickstart", "quickstart-net", "walk-cost"])
def test_the_bundled_specs_expand(name: str) -> None:
    path = Path(__file__).parents[2] / "codesign" / "specs" / f"{name}.toml"
    s = load_spec(path)
    assert s.name == name
    e = expand(s)
    assert 0 < len(e.points) <= e.combinations == s.size()
    assert len({r.key for r in e.points}) == len(e.points)


# --- bad input: one line naming the file, the line and what was expected --------------------

def test_malformed_toml_names_line_and_column(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + "[hardware]\nguest.levels = 4 5\n")
    assert message == (f"{path}:8:18: invalid TOML: expected newline or end of document after "
                       "a statement")


def test_unknown_section_suggests_the_closest(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + "[hardwre]\nguest.levels = 4\n")
    assert message.startswith(f"{path}:7: unknown section [hardwre]; did you mean 'hardware'?")


def test_unknown_array_of_tables_suggests_the_closest(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + '[[zipp]]\n"guest.levels" = [4]\n')
    assert message.startswith(f"{path}:7: unknown section [zipp]; did you mean 'zip'?")


def test_unknown_top_level_key_suggests_the_closest(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD.replace('name = "t"', 'name = "t"\ndescripton = "x"'))
    assert message.startswith(f"{path}:3: unknown key 'descripton'; did you mean 'description'?")


@pytest.mark.parametrize(("extra", "line", "expected"), [
    ("[hardware]\nguest.level = 4\n", 8,
     "unknown parameter 'guest.level' for mechanism(s) analytic-walk; "
     "did you mean 'guest.levels'?"),
    ("virtualised = true\n", 7,
     "unknown parameter 'virtualised' for mechanism(s) analytic-walk; "
     "did you mean 'virtualized'?"),
    ("[platform]\n\"memory.latncy\" = 5\n", 8,
     "unknown parameter 'platform.memory.latncy' for platform(s) kvm-nehalem; "
     "did you mean 'platform.memory.latency'?"),
])
def test_unknown_parameter_suggests_the_closest(tmp_path: Path, extra: str, line: int,
                                                expected: str) -> None:
    path, message = load_error(tmp_path, HEAD + extra)
    assert message == f"{path}:{line}: {expected}"


def test_unknown_workload_parameter_suggests_the_closest(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD.replace('"walks"\n', '"walks"\nwalk = 10\n'))
    assert message == (f"{path}:5: unknown parameter 'workload.walk' for workload(s) walks; "
                       "did you mean 'workload.walks'?")


@pytest.mark.parametrize(("extra", "expected"), [
    ("virtualized = 1\n", "7: virtualized: expected true or false, got 1"),
    ("[hardware]\nguest.levels = 4.5\n", "8: guest.levels: expected an integer from 2 to 5, "
                                         "got 4.5"),
    ('[hardware]\nguest.levels = [4, "five"]\n',
     "8: guest.levels: expected an integer from 2 to 5, got 'five'"),
    ('[hardware]\nhost.page_size = 2\n', "8: host.page_size: expected one of '4K', '2M', '1G', "
                                         "got 2"),
])
def test_wrong_type(tmp_path: Path, extra: str, expected: str) -> None:
    path, message = load_error(tmp_path, HEAD + extra)
    assert message == f"{path}:{expected}"


@pytest.mark.parametrize(("extra", "expected"), [
    ("[hardware]\nguest.levels = 7\n", "8: guest.levels: expected an integer from 2 to 5, got 7"),
    ("[hardware]\nhost.levels = { range = [2, 6] }\n",
     "8: host.levels: expected an integer from 2 to 5, got 6"),
    ("[hardware]\nguest.levels = { randint = [0, 1] }\n[sample]\nseed = 1\npoints = 2\n",
     "8: guest.levels: expected an integer from 2 to 5, got "),
])
def test_out_of_range_value(tmp_path: Path, extra: str, expected: str) -> None:
    path, message = load_error(tmp_path, HEAD + extra)
    assert message.startswith(f"{path}:{expected}")


def test_out_of_range_workload_value(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD.replace('"walks"\n', '"walks"\nwalks = 0\n'))
    assert message == (f"{path}:5: workload.walks: expected an integer from 1 to 100000000, "
                       "got 0")


def test_empty_range(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + "[hardware]\nguest.levels = { range = [5, 4] }\n")
    assert message == f"{path}:8: guest.levels: empty range [5, 4]"


def test_empty_list(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + "[hardware]\nguest.levels = []\n")
    assert message == f"{path}:8: guest.levels: empty list (give at least one value)"


@pytest.mark.parametrize(("text", "line", "expected"), [
    (HEAD.replace('name = "walks"', 'name = "walk"'), 4,
     "unknown workload 'walk'; did you mean 'walks'?"),
    (HEAD.replace('name = "analytic-walk"', 'name = ["analytic-walk", "analytic-wlk"]'), 6,
     "unknown mechanism 'analytic-wlk'; did you mean 'analytic-walk'?"),
    (HEAD + '[platform]\nname = "kvm-nehalm"\n', 8,
     "unknown platform 'kvm-nehalm'; did you mean 'kvm-nehalem'? "
     "(bundled: arm-mobile, kvm-nehalem, kvm-svm, modern-x86, opteron-2008; "
     "or give a .toml file)"),
])
def test_unknown_names_suggest_the_closest(tmp_path: Path, text: str, line: int,
                                           expected: str) -> None:
    path, message = load_error(tmp_path, text)
    assert message == f"{path}:{line}: {expected}"


def test_missing_platform_file_names_the_spec_line(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + '[platform]\nname = "lab.toml"\n')
    assert message == f"{path}:8: {tmp_path / 'lab.toml'}: no such file"


def test_constraint_naming_an_unknown_parameter(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + '[constraints]\nrequire = [\n'
                               '  "guest.levels <= 5",\n  "host.level >= guest.levels",\n]\n')
    assert message == (f"{path}:8: constraint 'host.level >= guest.levels' names unknown "
                       "parameter 'host.level'; did you mean 'host.levels'?")


def test_hostile_constraint_in_a_file(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + "[constraints]\n"
                               "require = [\"__import__('os').system('true')\"]\n")
    assert message == (f"{path}:8: constraint \"__import__('os').system('true')\": "
                       "calls are not allowed")


def test_zip_lists_of_unequal_length(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + '[[zip]]\n"guest.levels" = [4, 5, 5]\n'
                               '"host.levels" = [4, 5]\n')
    assert message == (f"{path}:8: zip lists must have equal lengths "
                       "(guest.levels: 3, host.levels: 2)")


def test_distribution_without_sample(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + "[hardware]\nguest.levels = { randint = [2, 5] }\n")
    assert message.startswith(f"{path}:8: ")
    assert "guest.levels is a distribution: add a [sample] section with 'seed' and 'points'" \
        in message


def test_distribution_without_sample_in_dict_form() -> None:
    with pytest.raises(InputError) as info:
        parse_spec(spec(hardware={"guest.levels": {"randint": [2, 5]}}))
    assert str(info.value) == ("<spec>: guest.levels is a distribution: add a [sample] section "
                               "with 'seed' and 'points'")


@pytest.mark.parametrize(("sample", "line", "expected"), [
    ("seed = 1\npoints = 0\n", 11, "[sample] points must be an integer >= 1, got 0"),
    ("seed = -1\npoints = 3\n", 10, "[sample] seed must be an integer >= 0, got -1"),
    ("seed = true\npoints = 3\n", 10, "[sample] seed must be an integer >= 0, got True"),
    ("points = 3\n", None, "[sample] seed must be an integer >= 0, got None"),
    ("seed = 1\npoints = 3\npoint = 4\n", 12,
     "unknown key 'point' in [sample]; did you mean 'points'?"),
])
def test_bad_sample_section(tmp_path: Path, sample: str, line: int | None,
                            expected: str) -> None:
    path, message = load_error(tmp_path, HEAD + "[hardware]\nguest.levels = { randint = [2, 5] }"
                               f"\n[sample]\n{sample}")
    assert message == (f"{path}:{line}: {expected}" if line else f"{path}: {expected}")


def test_sample_without_distribution(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + "[sample]\nseed = 1\npoints = 3\n")
    assert message == f"{path}:7: [sample] is given but no parameter is a distribution"


def test_missing_version(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD.replace("version = 1\n", ""))
    assert message == (f"{path}: a 'version' key is required; this toolkit reads sweep format "
                       "version 1")


@pytest.mark.parametrize(("literal", "shown"), [("2", "2"), ("0", "0"), ('"1"', "'1'"),
                                                ("true", "True")])
def test_unknown_version(tmp_path: Path, literal: str, shown: str) -> None:
    path, message = load_error(tmp_path, HEAD.replace("version = 1", f"version = {literal}"))
    assert message == (f"{path}:1: unknown version {shown}; this toolkit reads sweep format "
                       "version 1")


@pytest.mark.parametrize(("literal", "shown"), [
    ('"a/b"', "'a/b'"), ('""', "''"), ('".hidden"', "'.hidden'"), ("5", "5"),
    ('"quick start"', "'quick start'"), ('"quick\\n"', "'quick\\n'"),
])
def test_bad_name(tmp_path: Path, literal: str, shown: str) -> None:
    path, message = load_error(tmp_path, HEAD.replace('name = "t"', f"name = {literal}"))
    assert message == (f"{path}:2: 'name' must be a string of letters, digits, '.', '_' or '-' "
                       f"(it names the store file), got {shown}")


def test_missing_name_of_a_section(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD.replace('name = "analytic-walk"\n',
                                                      "virtualized = true\n"))
    assert message == f"{path}:5: [mechanism] needs a 'name' (one or a list)"


def test_a_parameter_given_twice(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + "guest.levels = 4\n[hardware]\nguest.levels = 5\n")
    assert message == f"{path}:9: parameter 'guest.levels' is given twice (also in [mechanism])"


def test_a_name_key_in_the_wrong_section(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + "[hardware]\nworkload.seed = 3\n")
    assert message == f"{path}:8: 'workload.seed' belongs in [workload]"


def test_report_axis_must_be_a_parameter(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + '[report]\nx = "guest.level"\n')
    assert message == (f"{path}:8: report x 'guest.level' is not a parameter of this sweep; "
                       "did you mean 'guest.levels'?")


def test_an_invalid_grid_point_suggests_a_constraint(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, HEAD + "virtualized = true\n[hardware]\n"
                               'host.levels = [2, 4]\nhost.page_size = ["4K", "1G"]\n')
    assert message.startswith(f"{path}: point ")
    assert "host.levels=2 host.page_size=1G" in message
    assert "host.page_size=1G needs host.levels >= 3, got 2" in message
    assert message.endswith("(leave such points out with a [constraints] rule)")


def test_the_suggested_constraint_rule_fixes_it(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "virtualized = true\n[hardware]\n"
                 'host.levels = [2, 4]\nhost.page_size = ["4K", "1G"]\n'
                 '[constraints]\nrequire = ["host.page_size != \'1G\' or host.levels >= 3"]\n')
    e = expand(load_spec(path))
    assert (len(e.points), e.excluded) == (3, 1)


# --- --set: one parameter replaced, for a study's quick mode ----------------------------------

def test_set_replaces_a_parameter_where_it_is_or_adds_it(tmp_path: Path) -> None:
    path = write(tmp_path, 'version = 1\nname = "s"\n[workload]\nname = "walks"\n'
                 'walks = [10, 20]\n[mechanism]\nname = "analytic-walk"\n'
                 '[hardware]\nguest = { levels = [4, 5] }\n')
    s = load_spec(path, overrides={"workload.walks": "5", "guest.levels": "4",
                                   "host.levels": "5", "platform": '"kvm-svm"'})
    e = expand(s)
    assert len(e.points) == 1
    [r] = e.points
    assert r.params["workload.walks"] == 5 and r.params["guest.levels"] == 4
    assert r.params["host.levels"] == 5 and r.platform.name == "kvm-svm"
    assert s.text.endswith("# --set platform=\"kvm-svm\"")  # the report shows what ran
    assert load_spec(path).size() == 4  # the file is untouched


def test_set_of_a_zipped_key_or_an_unknown_one_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'version = 1\nname = "s"\n[workload]\nname = "walks"\n'
                 '[mechanism]\nname = "analytic-walk"\n[[zip]]\n"guest.levels" = [4, 5]\n'
                 '"host.levels" = [4, 5]\n')
    with pytest.raises(InputError, match=r"--set guest\.levels: the key is in a \[\[zip\]\]"):
        load_spec(path, overrides={"guest.levels": "4"})
    with pytest.raises(InputError, match=r"unknown parameter 'tlb\.l9\.entries'"):
        load_spec(path, overrides={"tlb.l9.entries": "4"})
