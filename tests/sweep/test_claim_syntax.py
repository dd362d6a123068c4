"""The ``[[claim]]`` rows of a sweep spec: their syntax (one-line errors naming the file, the
row's line and the key), the names and values they may hold, and that a quick mode's
``--set`` leaves a study's claims valid. Their evaluation is tests/test_claims.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesign.errors import InputError
from codesign.sweep.spec import check_claims, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
HEAD = """version = 1
name = "c"

[workload]
name = "mmap-churn"
refs_per_cycle = [16, 64]

[mechanism]
name = ["shadow", "nested"]

[hardware]
"pwc.entries" = [0, 32]

[report]
objectives = ["cycles_per_ref"]
"""


def load_error(tmp_path: Path, claims: str, head: str = HEAD) -> tuple[Path, str]:
    path = tmp_path / "c.toml"
    path.write_text(head + claims)
    with pytest.raises(InputError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message
    return path, message


def test_a_claim_row_is_parsed_onto_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(HEAD + '[[claim]]\nsays = "nested wins with walk caches"\n'
                    'where = { "pwc.entries" = 32, workload = "mmap-churn" }\n'
                    'order = ["nested", "shadow"]\n\n'
                    '[[claim]]\nsays = "tie"\nmetric = "max:throughput.refs_per_s"\n'
                    'ties = ["nested", "shadow"]\nquick = false\n')
    spec = load_spec(path)
    assert spec.validation == ()
    first, second = spec.claims
    assert first == {"says": "nested wins with walk caches", "kind": "order",
                     "where": {"pwc.entries": 32, "workload": "mmap-churn"},
                     "tiers": [["nested"], ["shadow"]], "groups": ["nested", "shadow"],
                     "quick": True}
    assert second["metric"] == "max:throughput.refs_per_s" and second["quick"] is False
    assert second["tiers"] == [["nested", "shadow"]]


def test_a_spec_without_claims_has_none() -> None:
    spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"},
                       "mechanism": {"name": "analytic-walk"}})
    assert spec.claims == ()


# (claim text, line of the error in the file, message after "[[claim]] row N: ")
BAD = [
    ('says = "s"\noder = ["nested", "shadow"]\n', 3,
     "unknown key 'oder'; did you mean 'order'?"),
    ('order = ["nested", "shadow"]\n', 1,
     "a 'says' key is required (the sentence the claim checks)"),
    ('says = ""\nwins = "nested"\n', 2, "says must be a non-empty string, got ''"),
    ('says = "s"\n', 1, "an ordering is required: order = [best, ..., worst], wins = group "
     "or ties = [group, group, ...]"),
    ('says = "s"\nwins = "nested"\nties = ["nested", "shadow"]\n', 4,
     "gives both 'wins' and 'ties'; one ordering per row"),
    ('says = "s"\norder = ["nested"]\n', 3, "order must be a list of two or more groups, "
     "best first (an entry may be a list of groups: a tier), got ['nested']"),
    ('says = "s"\norder = ["nested", []]\n', 3, "order must be a list of two or more groups, "
     "best first (an entry may be a list of groups: a tier), got ['nested', []]"),
    ('says = "s"\nties = "nested"\n', 3,
     "ties must be a list of two or more groups, got 'nested'"),
    ('says = "s"\nwins = ["nested"]\n', 3,
     "wins must be one group (a string, number or boolean), got ['nested']"),
    ('says = "s"\norder = ["nested", ["shadow", "nested"]]\n', 3,
     "order: group 'nested' is listed twice"),
    ('says = "s"\nwins = "nested"\nmetric = "max:"\n', 4,
     "metric must be a metric name, optionally prefixed 'max:' or 'min:', got 'max:'"),
    ('says = "s"\nwins = "nested"\nquick = "no"\n', 4, "quick must be true or false, got 'no'"),
    ('says = "s"\nwins = "nested"\nwhere = "pwc.entries"\n', 4,
     "where must be a table of parameter = value, got 'pwc.entries'"),
    ('says = "s"\nwins = "nested"\nwhere = { "pwc.entres" = 32 }\n', 4,
     "where: 'pwc.entres' is not a parameter of this sweep; did you mean 'pwc.entries'?"),
    ('says = "s"\nwins = "nested"\nwhere = { "pwc.entries" = "many" }\n', 4,
     "where: pwc.entries: expected an integer"),
    ('says = "s"\nwins = "nestde"\n', 3,
     "wins: mechanism 'nestde' is not a known mechanism; did you mean 'nested'?"),
    ('says = "s"\nwins = "nested"\nwhere = { workload = "mmap-chrun" }\n', 4,
     "where: workload 'mmap-chrun' is not a known workload; did you mean 'mmap-churn'?"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD,
                         ids=[m.split(";")[0][:40] for _, _, m in BAD])
def test_a_bad_claim_is_a_one_line_error_at_its_line(tmp_path: Path, text: str, line: int,
                                                     message: str) -> None:
    # A first, good row: the error names the second row, at its own line.
    good = '[[claim]]\nsays = "fine"\nwins = "nested"\n\n'
    path, got = load_error(tmp_path, good + "[[claim]]\n" + text)
    at = HEAD.count("\n") + good.count("\n") + line
    assert got.startswith(f"{path}:{at}: [[claim]] row 2: "), got
    assert got[len(f"{path}:{at}: [[claim]] row 2: "):].startswith(message), got


def test_claims_must_be_an_array_of_tables(tmp_path: Path) -> None:
    _, got = load_error(tmp_path, '[claim]\nsays = "s"\n')
    assert got.endswith("claim rows must be tables: write each as [[claim]] (an array of "
                        "tables)")


def test_a_group_is_checked_as_a_value_of_the_report_group(tmp_path: Path) -> None:
    head = HEAD.replace('objectives = ["cycles_per_ref"]',
                        'objectives = ["cycles_per_ref"]\ngroup = "pwc.entries"')
    path = tmp_path / "c.toml"
    path.write_text(head + '[[claim]]\nsays = "walk caches help"\norder = [32, 0]\n')
    assert load_spec(path).claims[0]["groups"] == [32, 0]
    _, got = load_error(tmp_path, '[[claim]]\nsays = "s"\norder = [32, "lots"]\n', head)
    assert "[[claim]] row 1: order: pwc.entries: expected an integer" in got


def test_a_group_the_sweep_lacks_is_not_a_syntax_error(tmp_path: Path) -> None:
    # Names are checked against the registry: a quick mode's --set mechanism=[...] may leave
    # out a group a claim names, and the spec stays valid.
    path = tmp_path / "c.toml"
    path.write_text(HEAD + '[[claim]]\nsays = "s"\norder = ["pv-direct", "nested"]\n'
                    'where = { mechanism = "pv-direct" }\n')
    assert load_spec(path).claims[0]["groups"] == ["pv-direct", "nested"]


def test_check_claims_reads_a_stored_spec_row() -> None:
    rows = check_claims([{"says": "s", "where": {"a": {"b": [1, 2]}}, "wins": True}])
    assert rows[0]["where"] == {"a.b": [1, 2]} and rows[0]["tiers"] == [[True]]
    with pytest.raises(InputError, match=r"^s.toml: \[\[claim\]\] row 1: unknown key 'say'"):
        check_claims([{"say": "s"}], "s.toml")


def test_the_quick_modes_set_leaves_a_studys_claims_valid() -> None:
    spec = load_spec(ROOT / "reports" / "mmu" / "study.toml",
                     overrides={"mechanism": '["shadow", "nested", "selective"]'})
    assert any("pv-direct" in row["groups"] for row in spec.claims)


SPECS = ["codesign/specs/quickstart.toml", "codesign/specs/quickstart-net.toml",
         "codesign/specs/walk-cost.toml", "codesign/specs/mmu-suites.toml",
         "codesign/specs/nic-suites.toml", "reports/mmu/study.toml", "reports/nic/study.toml",
         "reports/hardware/mmu.toml", "reports/hardware/nic.toml"]


@pytest.mark.parametrize("path", SPECS)
def test_every_bundled_spec_and_study_states_its_claims(path: str) -> None:
    assert load_spec(ROOT / path).claims, f"{path} has no [[claim]] rows"


def test_a_mechanism_without_the_grouping_parameter_is_a_group_by_its_name(
        tmp_path: Path) -> None:
    """Grouped by ``migration.logging``, ``postcopy`` (which logs nothing) is a group named
    by the mechanism; a value neither the parameter nor the registry knows is refused."""
    head = HEAD.replace('name = ["shadow", "nested"]', 'name = ["precopy", "postcopy"]')
    head = head.replace('"pwc.entries" = [0, 32]', '"migration.logging" = ["pml", "scan"]')
    head += 'group = "migration.logging"\n'
    path = tmp_path / "c.toml"
    path.write_text(head + '[[claim]]\nsays = "s"\norder = ["postcopy", "pml"]\n')
    assert load_spec(path).claims[0]["groups"] == ["postcopy", "pml"]
    _, got = load_error(tmp_path, '[[claim]]\nsays = "s"\norder = ["postcpy", "pml"]\n', head)
    assert "order: migration.logging: expected one of" in got and "'postcpy'" in got
