"""Fuzzing the command line in-process (issue 11): random sweep specs, lackey lines and pcap
bytes given to ``codesign`` end in exit 0, 1 or 2 with no traceback, never another status
(3 is the CLI's own "internal error", a bug) or an escaped exception."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign import cli
from workloads.packets import pcap
from workloads.packets.synthetic import FixedParams, generate_fixed

# Random traces with workload.skip_bad_lines = true warn about the lines they skip, as asked.
pytestmark = pytest.mark.filterwarnings("ignore:.*bad lackey line:RuntimeWarning")

FUZZ = settings(derandomize=True, deadline=None, max_examples=100,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(list(argv))
    return status, out.getvalue(), err.getvalue()


def _check(status: int, err: str, argv: tuple[str, ...]) -> None:
    assert status in (cli.EXIT_OK, cli.EXIT_FAILED_POINTS, cli.EXIT_BAD_INPUT), (argv, err)
    assert "Traceback" not in err, (argv, err)
    if status == cli.EXIT_BAD_INPUT:
        errors = [line for line in err.splitlines() if line.startswith("codesign: error:")]
        assert len(errors) == 1, err


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))


# -- sweep specs -----------------------------------------------------------------------------

_NAMES = st.sampled_from(["version", "name", "description", "workload", "mechanism",
                          "platform", "sample", "constraints", "report", "zip", "walks",
                          "guest", "levels", "host", "virtualized", "huge_2m_fraction",
                          "seed", "range", "step", "pow2", "uniform", "randint", "points",
                          "objectives", "metrics", "x", "analytic-walk", "memory",
                          "latency", "a.b", "", "ü", "name.name"])
_CHARS = st.characters(blacklist_categories=("Cs",))  # TOML strings hold no surrogates
_SCALARS = st.one_of(
    st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=True),
    st.booleans(), st.text(_CHARS, max_size=12),
    st.sampled_from(["walks", "analytic-walk", "kvm-nehalem", "max:", "max:walk.refs",
                     "x == 1", "guest.levels > 4", "1e308"]))


def _toml_string(text: str) -> str:
    # JSON escapes control characters as TOML does, but writes astral characters as
    # surrogate pairs, which TOML refuses, and leaves DEL raw, which TOML forbids.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(value)


_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_NAMES, inner, max_size=3)), max_leaves=8)


def _usually(draw: st.DrawFn) -> bool:
    """True nine times in ten (hypothesis draws small integers more often: 9 is rare)."""
    return draw(st.integers(0, 9)) < 9


def _maybe(draw: st.DrawFn, good: str) -> str:
    """A valid value most of the time, a random one otherwise."""
    return good if _usually(draw) else _toml_value(draw(_VALUES))


@st.composite
def _specs(draw: st.DrawFn) -> str:
    """Sweep spec text: mostly well-formed (so the checks past parsing are reached), with
    values, keys and bytes swapped for random ones here and there."""
    lines = []
    if _usually(draw):
        lines.append(f"version = {_maybe(draw, '1')}")
    if _usually(draw):
        lines.append(f"name = {_maybe(draw, json.dumps('fuzz'))}")
    if draw(st.booleans()):
        lines.append(f"description = {_toml_value(draw(st.text(_CHARS, max_size=20)))}")
    lines.append("[workload]")
    if _usually(draw):
        lines.append(f"name = {_maybe(draw, json.dumps('walks'))}")
    lines.append(f"walks = {_maybe(draw, str(draw(st.integers(1, 200))))}")
    sampled = draw(st.booleans())
    if sampled or draw(st.booleans()):
        good = draw(st.sampled_from(["[0.0, 0.5]", "{range = [0.0, 1.0], step = 0.25}",
                                     "0.3"]))
        if sampled:
            good = draw(st.sampled_from(["{uniform = [0.0, 1.0]}", "{choice = [0.0, 0.5]}",
                                         "{randint = [0, 1]}"]))
        lines.append(f"huge_2m_fraction = {_maybe(draw, good)}")
    lines.append("[mechanism]")
    if _usually(draw):
        lines.append(f"name = {_maybe(draw, json.dumps('analytic-walk'))}")
    if draw(st.booleans()):
        lines.append(f"guest.levels = {_maybe(draw, '[4, 5]')}")
    if draw(st.booleans()):
        lines.append(f"virtualized = {_maybe(draw, '[true, false]')}")
    if draw(st.booleans()):
        lines.append("[constraints]")
        good = json.dumps(draw(st.sampled_from(["guest.levels >= 4", "virtualized or "
                                                "guest.levels == 5", "walks > 3"])))
        lines.append(f"require = {_maybe(draw, f'[{good}]')}")
    if sampled:
        lines.append("[sample]")
        lines.append(f"points = {_maybe(draw, str(draw(st.integers(1, 5))))}")
        lines.append(f"seed = {_maybe(draw, '7')}")
    if draw(st.booleans()):
        lines.append("[report]")
        good = draw(st.sampled_from(['["walk.refs_per_walk"]', '["max:x"]', '["max:"]']))
        lines.append(f"objectives = {_maybe(draw, good)}")
    for _ in range(0 if _usually(draw) else draw(st.integers(1, 2))):  # stray keys
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, f"{_toml_string(draw(_NAMES))} = {_toml_value(draw(_VALUES))}")
    text = "\n".join(lines) + "\n"
    if not _usually(draw):  # damage the text somewhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=6)) + text[at:]
    return text


@settings(FUZZ, max_examples=300)
@given(text=_specs())
def test_random_specs_end_in_a_status_not_a_traceback(text: str, tmp_path: Path) -> None:
    spec = tmp_path / "fuzz.toml"
    spec.write_text(text, encoding="utf-8")
    argv = ("sweep", str(spec), "--dry-run", "--store", str(tmp_path / "fuzz.sqlite"))
    status, _, err = _cli(*argv)
    _check(status, err, argv)


@settings(FUZZ, max_examples=60)
@given(text=_specs())
def test_random_specs_run_without_a_traceback(text: str, tmp_path: Path) -> None:
    spec = tmp_path / "fuzz.toml"
    spec.write_text(text, encoding="utf-8")
    argv = ("sweep", str(spec), "--executor", "serial", "--quiet", "--store",
            str(tmp_path / "fuzz.sqlite"))
    status, _, err = _cli(*argv)
    _check(status, err, argv)


@FUZZ
@given(key=_NAMES, value=st.one_of(st.text(string.printable, max_size=20),
                                   _SCALARS.map(_toml_value)))
def test_random_run_settings_end_in_a_status(key: str, value: str) -> None:
    argv = ("run", "--workload", "walks", "--mechanism", "analytic-walk", "--set",
            f"{key}={value}", "--set", "walks=50")
    status, _, err = _cli(*argv)
    _check(status, err, argv)


# -- lackey traces ---------------------------------------------------------------------------

_LACKEY_LINES = st.one_of(
    st.builds(lambda k, a, s: f"{k} {a:08x},{s}", st.sampled_from(["I ", " L", " S", " M"]),
              st.integers(0, 2**48), st.integers(1, 16)),
    st.sampled_from(["==123== Lackey, an example Valgrind tool", "", " L", "I  zz,4",
                     " L 7ff0;8", " S ffffffffffffffffffff,8", " M 10,0", "\x00", "\t"]),
    st.text(string.printable, max_size=30),
)


@FUZZ
@given(lines=st.lists(_LACKEY_LINES, max_size=30), zipped=st.booleans(),
       skip=st.booleans())
def test_random_lackey_traces_end_in_a_status(lines: list[str], zipped: bool, skip: bool,
                                             tmp_path: Path) -> None:
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    # one file per content: a path rewritten in place is (rightly) refused as changed
    name = hashlib.sha256(data).hexdigest()[:16]
    trace = tmp_path / (f"{name}.lackey.gz" if zipped else f"{name}.lackey")
    trace.write_bytes(gzip.compress(data) if zipped else data)
    argv = ("run", "--workload", "lackey", "--mechanism", "native", "--set",
            f"workload.path={trace}", "--set", "hw.cost=false", "--set",
            f"workload.skip_bad_lines={str(skip).lower()}")
    status, _, err = _cli(*argv)
    _check(status, err, argv)


# -- pcap captures ---------------------------------------------------------------------------


def _capture() -> bytes:
    packets = generate_fixed(FixedParams(packets=8, frame_bytes=128, offered_gbps=1.0))
    return pcap.to_bytes(np.asarray(packets))


@FUZZ
@given(data=st.data(), zipped=st.booleans())
def test_random_pcap_bytes_end_in_a_status(data: st.DataObject, zipped: bool,
                                           tmp_path: Path) -> None:
    raw = bytearray(_capture())
    for _ in range(data.draw(st.integers(0, 6))):
        what = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, len(raw)))
        if what == "flip" and at < len(raw):
            raw[at] = data.draw(st.integers(0, 255))
        elif what == "cut":
            del raw[at:]
        elif what == "insert":
            raw[at:at] = data.draw(st.binary(max_size=8))
    if data.draw(st.booleans()):
        raw = bytearray(data.draw(st.binary(max_size=64)))
    body = bytes(raw)
    if zipped:
        body = gzip.compress(body)
        if data.draw(st.booleans()):
            body = body[: data.draw(st.integers(0, len(body)))]
    name = hashlib.sha256(body).hexdigest()[:16]
    capture = tmp_path / (f"{name}.pcap.gz" if zipped else f"{name}.pcap")
    capture.write_bytes(body)
    argv = ("run", "--workload", "pcap", "--mechanism", "native-net", "--set",
            f"workload.path={capture}")
    status, _, err = _cli(*argv)
    _check(status, err, argv)
