"""Sweep constraints: semantics of the expression language, and hostile input rejected unrun."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from codesign.errors import InputError
from codesign.sweep.constraints import MAX_TEXT, Constraint

POINT = {"guest.levels": 4, "host.levels": 5, "virtualized": True, "host.page_size": "2M",
         "tlb.l1.entries": 64, "tlb.l1.ways": 4, "workload.huge_2m_fraction": 0.5,
         "workload": "walks", "mechanism": "analytic-walk", "platform": "kvm-nehalem"}


def holds(text: str, values: dict | None = None) -> bool:
    return Constraint.parse(text).holds(POINT if values is None else values)


# --- semantics ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("host.levels >= guest.levels", True),
    ("host.levels < guest.levels", False),
    ("virtualized and host.levels == 5", True),
    ("virtualized and host.levels == 4", False),
    ("not virtualized or host.levels == 4", False),
    ("not virtualized or host.levels == 5", True),
    ("not (virtualized and guest.levels == 4)", False),
    ("guest.levels == 4 or guest.levels == 5 and host.levels == 4", True),  # and binds tighter
    ("(guest.levels == 4 or guest.levels == 5) and host.levels == 4", False),
    ("tlb.l1.entries % tlb.l1.ways == 0", True),
    ("tlb.l1.entries // tlb.l1.ways == 16", True),
    ("tlb.l1.entries / tlb.l1.ways == 16.0", True),
    ("tlb.l1.entries / 128 == 0.5", True),
    ("guest.levels + host.levels * 2 == 14", True),
    ("(guest.levels + host.levels) * 2 == 18", True),
    ("host.levels - guest.levels - 1 == 0", True),
    ("-guest.levels == -4 and +guest.levels == 4", True),
    ("2 <= guest.levels <= 5", True),
    ("2 <= guest.levels < 4", False),
    ("guest.levels < host.levels < 6 != 7", True),
    ("guest.levels < host.levels < 5", False),
    ("host.page_size in ['2M', '1G']", True),
    ("host.page_size in ('4K',)", False),
    ("host.page_size not in ['4K']", True),
    ("guest.levels in [host.levels - 1, host.levels]", True),
    ("virtualized == true", True),
    ("virtualized == false", False),
    ("virtualized != false and true", True),
    ("false or guest.levels == 4", True),
    ("virtualized == True", True),
    ("workload == 'walks'", True),
    ("mechanism == 'analytic-walk' and platform == 'kvm-svm'", False),
    ("platform in ['kvm-nehalem', 'kvm-svm']", True),
    ("workload.huge_2m_fraction * 2 == 1", True),
    ("workload.huge_2m_fraction <= 0.25 or guest.levels >= 4", True),
])
def test_semantics(text: str, expected: bool) -> None:
    assert holds(text) is expected


def test_names_are_the_parameters_without_literals() -> None:
    c = Constraint.parse("host.levels >= guest.levels or not virtualized == true")
    assert c.names == ("guest.levels", "host.levels", "virtualized")
    assert Constraint.parse("workload == 'walks' and platform != mechanism").names == (
        "mechanism", "platform", "workload")
    assert Constraint.parse("1 < 2").names == ()
    assert Constraint.parse("  guest.levels > 2  ").text == "  guest.levels > 2  "


# --- a constraint naming an absent parameter does not apply ---------------------------------

@pytest.mark.parametrize("text", [
    "tlb.l2.entries > 1000",
    "not tlb.l2.entries",
    "tlb.l2.entries % tlb.l2.ways == 0",
    "guest.levels == 5 or tlb.l2.entries > 1000",
    "tlb.l2.entries > 1000 and guest.levels == 5",
    "tlb.l2.entries in [1, 2]",
])
def test_absent_parameter_means_the_constraint_does_not_apply(text: str) -> None:
    assert holds(text) is True
    assert holds(text, {}) is True


@pytest.mark.parametrize("text", [
    "guest.levels == 5 and tlb.l2.entries > 1000",
    "tlb.l2.entries > 1000 and guest.levels == 5",
    "not virtualized and tlb.l2.entries > 1000",
    "guest.levels > 4 > tlb.l2.entries",
    "tlb.l2.entries < 4 < guest.levels",
])
def test_absent_parameter_does_not_apply_whatever_the_order(text: str) -> None:
    # The point (guest.levels = 4, no tlb.l2.*) lacks a parameter the constraint names: it
    # does not apply, however the terms are ordered and wherever evaluation would stop.
    c = Constraint.parse(text)
    assert "tlb.l2.entries" in c.names
    assert c.holds(POINT) is True


# --- runtime errors -------------------------------------------------------------------------

def test_type_errors_name_the_constraint_and_the_values() -> None:
    with pytest.raises(InputError) as info:
        holds("host.page_size > 1", {"host.page_size": "2M"})
    assert str(info.value) == ("constraint 'host.page_size > 1': '>' not supported between "
                               "instances of 'str' and 'int' (values {'host.page_size': '2M'})")


def test_division_by_zero_names_the_constraint() -> None:
    with pytest.raises(InputError) as info:
        holds("a / b > 1", {"a": 1, "b": 0})
    assert str(info.value) == ("constraint 'a / b > 1': division by zero "
                               "(values {'a': 1, 'b': 0})")


@pytest.mark.parametrize(("text", "message"), [
    ("", "constraint '': expected a non-empty string"),
    ("   ", "constraint '   ': expected a non-empty string"),
    (5, "constraint 5: expected a non-empty string"),
    (None, "constraint None: expected a non-empty string"),
    ("guest.levels = 4", "constraint 'guest.levels = 4': syntax error at column 14"),
    ("guest.levels +* 2", "constraint 'guest.levels +* 2': syntax error at column 15"),
    ("a b", "constraint 'a b': syntax error at column 3"),
])
def test_malformed_constraints(text: object, message: str) -> None:
    with pytest.raises(InputError) as info:
        Constraint.parse(text)  # type: ignore[arg-type]
    assert str(info.value) == message


# --- hostile input: rejected at parse time, nothing runs ------------------------------------

@pytest.mark.parametrize(("text", "reason"), [
    ("__import__('os')", "calls are not allowed"),
    ("__import__('os').system('true')", "calls are not allowed"),
    ("open('/etc/passwd').read() == ''", "calls are not allowed"),
    ("guest.levels.bit_length() > 2", "calls are not allowed"),
    ("().__class__", "only dotted parameter names may have dots"),
    ("().__class__.__bases__[0].__subclasses__()", "calls are not allowed"),
    ("''.__class__.__mro__", "only dotted parameter names may have dots"),
    ("[].__class__ == 1", "only dotted parameter names may have dots"),
    ("(guest).levels > 1 and (1).real", "only dotted parameter names may have dots"),
    ("guest.levels[0] == 4", "Subscript is not allowed"),
    ("'abc'[0] == 'a'", "Subscript is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("(lambda: 1) == 1", "Lambda is not allowed"),
    ("[x for x in guest.levels]", "ListComp is not allowed"),
    ("any(x for x in [1])", "calls are not allowed"),
    ("(x for x in [1]) == 1", "GeneratorExp is not allowed"),
    ("{x for x in [1]} == 1", "SetComp is not allowed"),
    ("{x: 1 for x in [1]} == 1", "DictComp is not allowed"),
    ("(y := 4) == guest.levels", "NamedExpr is not allowed"),
    ("f'{guest.levels}' == '4'", "JoinedStr is not allowed"),
    ("f'{__import__(\"os\")}' == ''", "JoinedStr is not allowed"),
    ("guest.levels if virtualized else host.levels", "IfExp is not allowed"),
    ("guest.levels ** 99999999 > 0", "Pow is not allowed"),
    ("1 << 99999999 > 0", "LShift is not allowed"),
    ("guest.levels & 1", "BitAnd is not allowed"),
    ("~guest.levels == 1", "Invert is not allowed"),
    ("guest.levels is 4", "Is is not allowed"),
    ("{1: 2} == {}", "Dict is not allowed"),
    ("{1} == 1", "Set is not allowed"),
    ("[*guest.levels] == []", "Starred is not allowed"),
    ("None == virtualized", "literal None is not allowed"),
    ("b'x' == virtualized", "literal b'x' is not allowed"),
    ("... == virtualized", "literal Ellipsis is not allowed"),
    ("1j == virtualized", "literal 1j is not allowed"),
])
def test_hostile_input_is_rejected(text: str, reason: str) -> None:
    with pytest.raises(InputError) as info:
        Constraint.parse(text)
    assert str(info.value) == f"constraint {text!r}: {reason}"


def test_hostile_input_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    calls: list[str] = []
    real_import = builtins.__import__

    def watching_import(name: str, *args, **kwargs):
        calls.append(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", watching_import)
    for text in (f"__import__('pathlib').Path({str(marker)!r}).touch()",
                 f"[__import__('pathlib').Path({str(marker)!r}).touch() for _ in [1]]",
                 f"(lambda: __import__('pathlib').Path({str(marker)!r}).touch())()",
                 f"f'{{__import__(\"pathlib\").Path({str(marker)!r}).touch()}}'"):
        with pytest.raises(InputError):
            Constraint.parse(text)
    monkeypatch.undo()
    assert not marker.exists()
    assert "pathlib" not in calls


def test_dotted_names_are_looked_up_not_evaluated() -> None:
    # `os.system` is a parameter name here, looked up in the point, never an attribute.
    c = Constraint.parse("os.system == 1")
    assert c.names == ("os.system",)
    assert c.holds({}) is True
    assert c.holds({"os.system": 1}) is True
    assert c.holds({"os.system": 2}) is False


# --- size limits (issue 11): the checker and the interpreter recurse, and run per point -----

def parse_error(text: str) -> str:
    with pytest.raises(InputError) as info:
        Constraint.parse(text)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300  # the text is not echoed in full
    return message


@pytest.mark.parametrize(("text", "reason"), [
    (" or ".join(["guest.levels == 1"] * 1000), "longer than 4,000 characters"),
    ("+".join(["1"] * 100_000), "longer than 4,000 characters"),
    ("+".join(["1"] * 1990) + " > 0", "nested more than 50 levels deep"),
    ("a" + ".a" * 60 + " == 1", "nested more than 50 levels deep"),
    ("-" * 200 + "guest.levels == 1", "nested more than 50 levels deep"),
    ("(" * 1000 + "1" + ")" * 1000, "syntax error at column 201"),  # Python's own limit
    ("guest.levels in [" + ", ".join(["1"] * 1200) + "]", "more than 1,000 terms and operators"),
])
def test_oversized_constraints_are_refused_before_they_run(text: str, reason: str) -> None:
    message = parse_error(text)
    assert message.startswith(f"constraint {text[:60] + '...'!r} ({len(text):,} characters): ")
    assert reason in message


def test_a_constraint_at_the_limits_is_accepted() -> None:
    wide = "guest.levels in [" + ", ".join(["4"] * 900) + "]"
    deep = " + ".join(["guest.levels"] * 20) + " == 80"
    assert len(wide) <= MAX_TEXT
    assert holds(wide) and holds(deep)


def test_a_nul_character_is_named() -> None:
    assert parse_error("guest.levels\x00 == 4") == ("constraint 'guest.levels\\x00 == 4': "
                                                    "contains a NUL character")


def test_overflow_while_evaluating_names_the_constraint() -> None:
    text = "9" * 400 + " / guest.levels > 1"  # int / int is a float: this one is too large
    with pytest.raises(InputError) as info:
        holds(text, {"guest.levels": 4})
    assert str(info.value) == (f"constraint {text[:60] + '...'!r} (419 characters): integer "
                               "division result too large for a float (values "
                               "{'guest.levels': 4})")
