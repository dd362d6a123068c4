"""Declared parameters: coercion, bounds and choices, ``when`` conditions, building instances."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.cli import main
from codesign.errors import InputError
from codesign.harness import Point, resolve
from codesign.params import ParamSpec, build, canonical, flat, param, specs

FAST = settings(derandomize=True, max_examples=60, deadline=None)


@dataclass(frozen=True)
class Walk:
    """A small parameter class in the style of a mechanism's."""

    virtualized: bool = param(True, key="virtualized", doc="2D walk")
    guest_levels: int = param(4, key="guest.levels", doc="guest levels", min=2, max=5)
    host_levels: int = param(4, key="host.levels", doc="host levels", min=2, max=5,
                             when={"virtualized": True})
    page: str = param("4K", key="host.page_size", doc="backing page",
                      choices=("4K", "2M", "1G"), when={"virtualized": True})
    fraction: float = param(0.0, key="workload.fraction", doc="a fraction", min=0.0, max=1.0)
    label: str = param("x", key="label", doc="free text")

    def __post_init__(self) -> None:
        if self.virtualized and self.host_levels < self.guest_levels - 1:
            raise ValueError(f"host.levels={self.host_levels} is too shallow\n"
                             f"for guest.levels={self.guest_levels}")


@dataclass(frozen=True)
class Gated:
    """A parameter that matters only when two others hold."""

    a: bool = param(False, key="a", doc="")
    b: str = param("x", key="b", doc="", choices=("x", "y"))
    c: int = param(1, key="c", doc="", when={"a": True, "b": "y"})


def spec(kind: str, **kw) -> ParamSpec:
    defaults = {"int": 0, "float": 0.0, "bool": False, "str": ""}
    return ParamSpec("p.k", kind, kw.pop("default", defaults[kind]), "", **kw)


# --- int ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("5", 5), (" 5 ", 5), ("-3", -3), ("0x10", 16), ("0b101", 5), ("1_000", 1000),
    ("010", 10), ("1e3", 1000), ("4.0", 4),
])
def test_int_from_command_line_text(text: str, expected: int) -> None:
    value = spec("int").coerce(text)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize("text", ["4.5", "four", "", "true", "1e400", "nan", "0x"])
def test_int_text_that_is_not_an_integer(text: str) -> None:
    with pytest.raises(InputError) as info:
        spec("int").coerce(text, origin="--set")
    assert str(info.value) == f"--set: p.k: expected an integer, got {text!r}"


def test_int_text_beyond_float_range_is_an_input_error() -> None:
    # A 401-digit integer parses as int; the bounds check must still give an InputError.
    text = "1" + "0" * 400
    with pytest.raises(InputError) as info:
        spec("int", min=0, max=10).coerce(text, origin="--set")
    assert "p.k: expected an integer from 0 to 10" in str(info.value)


@pytest.mark.parametrize(("value", "expected"), [(4, 4), (4.0, 4), (-7, -7), (2**62, 2**62)])
def test_int_from_toml_values(value: object, expected: int) -> None:
    got = spec("int").coerce(value)
    assert got == expected
    assert type(got) is int


@pytest.mark.parametrize("value", [4.5, True, False, "x", None, [4]])
def test_int_rejects_non_integers_from_toml(value: object) -> None:
    with pytest.raises(InputError) as info:
        spec("int").coerce(value)
    assert str(info.value) == f"p.k: expected an integer, got {value!r}"


@given(st.integers(min_value=-(10**12), max_value=10**12))
@FAST
def test_int_text_and_value_agree(n: int) -> None:
    s = spec("int", min=-(10**12), max=10**12)
    assert s.coerce(str(n)) == s.coerce(n) == n


# --- float ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("0.25", 0.25), (" 1e-3 ", 0.001), ("2", 2.0), (1, 1.0), (0, 0.0), (0.5, 0.5),
])
def test_float_from_text_and_toml(value: object, expected: float) -> None:
    got = spec("float").coerce(value)
    assert got == expected
    assert type(got) is float


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", float("nan"), float("inf"), "x", True,
                                   "0x10", None])
def test_float_rejects_non_finite_and_non_numbers(value: object) -> None:
    with pytest.raises(InputError) as info:
        spec("float").coerce(value)
    assert str(info.value) == f"p.k: expected a number, got {value!r}"


@given(st.floats(min_value=-1e300, max_value=1e300, allow_nan=False))
@FAST
def test_float_text_round_trips_exactly(x: float) -> None:
    assert spec("float").coerce(repr(x)) == x


# --- bool and str ---------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("TRUE", True), (" yes ", True), ("1", True),
    ("false", False), ("No", False), ("0", False), (True, True), (False, False),
])
def test_bool_from_text_and_toml(value: object, expected: bool) -> None:
    assert spec("bool").coerce(value) is expected


@pytest.mark.parametrize("value", ["maybe", "", "t", 1, 0, 1.0, None])
def test_bool_rejects_other_values(value: object) -> None:
    with pytest.raises(InputError) as info:
        spec("bool").coerce(value)
    assert str(info.value) == f"p.k: expected true or false, got {value!r}"


def test_str_takes_text_as_is_and_rejects_other_types() -> None:
    assert spec("str").coerce(" 4K ") == " 4K "
    for value in (4, True, 1.5):
        with pytest.raises(InputError) as info:
            spec("str").coerce(value)
        assert str(info.value) == f"p.k: expected a string, got {value!r}"


# --- bounds and choices ---------------------------------------------------------------------

def test_bounds_are_inclusive() -> None:
    s = specs(Walk)[1]
    assert s.key == "guest.levels"
    assert [s.coerce(v) for v in (2, 5, "2", "5")] == [2, 5, 2, 5]
    for bad in (1, 6, "7", -2):
        with pytest.raises(InputError) as info:
            s.coerce(bad, origin="spec.toml")
        assert str(info.value) == (f"spec.toml: guest.levels: expected an integer from 2 to 5, "
                                   f"got {bad!r}")


@pytest.mark.parametrize(("kw", "words", "bad"), [
    ({"min": 1}, "an integer >= 1", 0),
    ({"max": 10}, "an integer <= 10", 11),
    ({"min": 1, "max": 10}, "an integer from 1 to 10", 11),
])
def test_one_sided_bounds_in_words(kw: dict, words: str, bad: int) -> None:
    s = spec("int", default=5, **kw)
    assert s.expectation() == words
    with pytest.raises(InputError, match=f"expected {words}, got {bad}$"):
        s.coerce(bad)


def test_float_bounds_in_words() -> None:
    s = spec("float", min=0.5, max=2.0)
    assert s.expectation() == "a number from 0.5 to 2"
    assert s.coerce("2") == 2.0
    with pytest.raises(InputError, match=r"expected a number from 0\.5 to 2, got 2\.5$"):
        s.coerce(2.5)


def test_choices() -> None:
    s = next(s for s in specs(Walk) if s.key == "host.page_size")
    assert s.expectation() == "one of '4K', '2M', '1G'"
    assert s.coerce("2M") == "2M"
    with pytest.raises(InputError) as info:
        s.coerce("3M", origin="--set")
    assert str(info.value) == "--set: host.page_size: expected one of '4K', '2M', '1G', got '3M'"
    ints = spec("int", default=16, choices=(16, 32, 64))
    assert ints.coerce("32") == 32
    with pytest.raises(InputError, match=r"expected one of 16, 32, 64, got 48$"):
        ints.coerce(48)


def test_specs_lists_declarations_in_field_order() -> None:
    got = [(s.key, s.type, s.default, s.field) for s in specs(Walk)]
    assert got == [
        ("virtualized", "bool", True, "virtualized"),
        ("guest.levels", "int", 4, "guest_levels"),
        ("host.levels", "int", 4, "host_levels"),
        ("host.page_size", "str", "4K", "page"),
        ("workload.fraction", "float", 0.0, "fraction"),
        ("label", "str", "x", "label"),
    ]
    assert specs(Walk)[2].when == (("virtualized", True),)


def test_a_default_outside_its_own_bounds_is_caught_at_declaration() -> None:
    @dataclass(frozen=True)
    class Bad:
        n: int = param(0, key="x.n", doc="", min=1)

    with pytest.raises(InputError, match=r"^Bad default: x\.n: expected an integer >= 1, got 0$"):
        specs(Bad)


def test_an_unsupported_parameter_type_is_a_declaration_error() -> None:
    @dataclass(frozen=True)
    class Bad:
        n: list = param(0, key="x.n", doc="")  # noqa: RUF009

    with pytest.raises(TypeError, match=r"Bad\.n: parameter type must be bool/int/float/str"):
        specs(Bad)


# --- when and canonical ---------------------------------------------------------------------

def test_when_drops_inactive_parameters_from_canonical() -> None:
    native = Walk(virtualized=False, host_levels=2, page="1G")
    assert flat(native)["host.levels"] == 2
    assert canonical(native) == {"virtualized": False, "guest.levels": 4,
                                 "workload.fraction": 0.0, "label": "x"}
    assert canonical(native) == canonical(Walk(virtualized=False, host_levels=5))
    nested = Walk(host_levels=5)
    assert canonical(nested)["host.levels"] == 5
    assert canonical(nested)["host.page_size"] == "4K"
    assert canonical(nested) != canonical(Walk(host_levels=4))


def test_when_with_several_conditions_needs_all_of_them() -> None:
    c = specs(Gated)[2]
    assert c.when == (("a", True), ("b", "y"))
    assert c.active({"a": True, "b": "y"})
    assert not c.active({"a": True, "b": "x"})
    assert not c.active({"a": False, "b": "y"})
    assert not c.active({"b": "y"})
    assert "c" in canonical(Gated(a=True, b="y", c=3))
    assert canonical(Gated(a=True, b="x", c=3)) == {"a": True, "b": "x"}


# --- build ----------------------------------------------------------------------------------

def test_build_coerces_and_fills_defaults() -> None:
    w = build(Walk, {"guest.levels": "5", "host.levels": 5.0, "virtualized": "yes",
                     "workload.fraction": 1}, origin="--set")
    assert w == Walk(virtualized=True, guest_levels=5, host_levels=5, fraction=1.0)
    assert type(w.host_levels) is int
    assert type(w.fraction) is float
    assert build(Walk, {}) == Walk()


def test_build_rejects_an_unknown_key_with_the_closest_name() -> None:
    with pytest.raises(InputError) as info:
        build(Walk, {"guest.level": 4}, origin="spec.toml")
    assert str(info.value) == ("spec.toml: unknown parameter 'guest.level'; "
                               "did you mean 'guest.levels'?")
    with pytest.raises(InputError) as info:
        build(Walk, {"host.page": "2M"})
    assert str(info.value) == "unknown parameter 'host.page'; did you mean 'host.page_size'?"


def test_build_unknown_key_with_nothing_close_has_no_suggestion() -> None:
    with pytest.raises(InputError) as info:
        build(Walk, {"zzz": 1}, origin="spec.toml")
    assert str(info.value) == "spec.toml: unknown parameter 'zzz'"


def test_build_bad_value_names_origin_and_key() -> None:
    with pytest.raises(InputError) as info:
        build(Walk, {"workload.fraction": "1.5"}, origin="spec.toml:7")
    assert str(info.value) == ("spec.toml:7: workload.fraction: expected a number from 0 to 1, "
                               "got '1.5'")


def test_post_init_value_error_becomes_a_one_line_input_error() -> None:
    with pytest.raises(ValueError, match="too shallow"):
        Walk(guest_levels=5, host_levels=2)  # the class itself raises ValueError...
    with pytest.raises(InputError) as info:  # ...which build turns into one line
        build(Walk, {"guest.levels": 5, "host.levels": 2}, origin="spec.toml")
    message = str(info.value)
    assert "\n" not in message
    assert message == "spec.toml: host.levels=2 is too shallow for guest.levels=5"
    assert info.value.__cause__ is None
    # The same values are fine where the check does not apply.
    assert build(Walk, {"guest.levels": 5, "host.levels": 2, "virtualized": False}).host_levels == 2


def test_optional_parameter_defaults_to_none_and_takes_values() -> None:
    from dataclasses import dataclass

    from codesign.params import build, canonical, param, specs

    @dataclass(frozen=True)
    class P:
        n: int | None = param(None, key="x.n", min=0, max=8, doc="all levels; none: per level")

    (spec,) = specs(P)
    assert spec.optional and spec.type == "int" and spec.default is None
    assert canonical(build(P, {})) == {"x.n": None}
    assert build(P, {"x.n": "4"}).n == 4
    with pytest.raises(InputError, match=r"x\.n: expected an integer from 0 to 8, got 9"):
        build(P, {"x.n": 9})


# --- limits (issue 11): integers within 64 bits; one value per key from `run --set` ---------

@pytest.mark.parametrize(("value", "shown"), [
    (2**63, "an integer of 64 bits"), (-(2**63) - 1, "an integer of 64 bits"),
    (10**30, "an integer of 100 bits"), (1e300, "1e+300"), ("0x" + "f" * 40, repr("0x" + "f" * 40)),
    ("9" * 25, repr("9" * 25)),
])
def test_int_beyond_64_bits_is_an_input_error(value: object, shown: str) -> None:
    with pytest.raises(InputError) as info:
        spec("int").coerce(value, origin="--set")
    assert str(info.value) == f"--set: p.k: expected an integer within 64 bits, got {shown}"


def test_int_at_the_64_bit_ends_is_accepted() -> None:
    assert spec("int").coerce(2**63 - 1) == 2**63 - 1
    assert spec("int").coerce(str(-(2**63))) == -(2**63)


def run_set(*sets: str) -> str:
    params = dict(s.split("=", 1) for s in sets)
    with pytest.raises(InputError) as info:
        resolve(Point("walks", "analytic-walk", "kvm-nehalem", params), origin="--set")
    return str(info.value)


@pytest.mark.parametrize(("text", "what"), [
    ("[1,2]", "a list"), (" [1, 2] ", "a list"), ("[]", "a list"), ("{range=[1,4]}", "a range"),
    ("{a=1}", "a table"),
])
def test_run_set_takes_one_value_not_a_list(text: str, what: str) -> None:
    assert run_set(f"workload.walks={text}") == (f"--set workload.walks: `run` takes one value, "
                                                 f"got {what}; use a sweep spec for several")


def test_run_set_text_that_only_looks_like_a_list_reaches_the_parameter_check() -> None:
    assert run_set("workload.walks=[1,") == ("--set: workload.walks: expected an integer from 1 "
                                             "to 100000000, got '[1,'")
    assert run_set("workload.walks=" + "[" * 5000).startswith("--set: workload.walks: expected")


def test_run_set_through_the_command_line_exits_2() -> None:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        status = main(["run", "--workload", "walks", "--mechanism", "analytic-walk",
                       "--set", "guest.levels=[4,5]"])
    assert status == 2
    assert err.getvalue().strip().endswith("--set guest.levels: `run` takes one value, got a "
                                           "list; use a sweep spec for several")
