"""The lackey reader: compiled parser against a plain reference, errors, cache, identity."""

from __future__ import annotations

import gzip
import itertools
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.errors import InputError
from codesign.harness import Point, resolve, run_resolved
from codesign.metrics import Metrics
from codesign.params import build
from codesign.registry import Mechanism, Registry
from tests.conftest import run_cli
from workloads.filecache import file_digest
from workloads.memory import lackey
from workloads.memory.events import Access, Ev, summarize, validate

DERANDOMIZED = settings(derandomize=True, deadline=None, max_examples=80)

RECORD = re.compile(r"(I  | L | S | M )([0-9a-fA-F]{1,16}),([0-9]{1,9})")
BANNER = re.compile(r"(==|--|\*\*)[0-9]")


def reference(data: bytes) -> tuple[list[int], list[int], list[str]] | int:
    """Golden model: (addresses, sizes, kinds), or the 1-based number of the first bad line."""
    addrs, sizes, kinds = [], [], []
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = raw.decode("latin-1").rstrip(" \t\r")
        if not line or BANNER.match(line):
            continue
        m = RECORD.fullmatch(line)
        if m is None:
            return number
        kinds.append(m.group(1).strip())
        addrs.append(int(m.group(2), 16))
        sizes.append(int(m.group(3)))
    return addrs, sizes, kinds


def compiled(data: bytes, name: str = "t") -> tuple[list[int], list[int], list[str]]:
    addr, size, kind = lackey.parse_bytes(data, name)
    return addr.tolist(), size.tolist(), [lackey.KINDS[k] for k in kind]


def test_real_trace_matches_the_reference_and_its_readme(trace: Path) -> None:
    data = trace.read_bytes()
    got = compiled(data)
    assert got == reference(data)
    _, _, kinds = got
    assert (kinds.count("L"), kinds.count("S"), kinds.count("M")) == (3663, 2182, 155)
    assert len({a >> 12 for a in got[0]}) == 51


def test_real_trace_stream(trace: Path, cache: Path) -> None:
    ev = lackey.generate(lackey.LackeyParams(path=str(trace)))
    validate(ev)
    c = summarize(ev)
    assert (c.accesses, c.reads, c.writes, c.touched_pages) == (6000, 3663, 2182 + 155, 51)
    addrs, _, _ = reference(trace.read_bytes())
    regions = sorted({a >> 21 for a in addrs})
    runs = 1 + sum(1 for x, y in itertools.pairwise(regions) if y != x + 1)
    maps = ev[ev["op"] == Ev.MAP]
    assert c.maps == runs and c.syscalls == 1
    assert c.mapped_pages == 512 * len(regions)
    assert (maps["va"] % np.uint64(1 << 21) == 0).all()
    acc = ev[ev["op"] == Ev.ACCESS]
    assert acc["va"].tolist() == addrs  # in trace order, first byte of each reference
    loads = summarize(lackey.generate(lackey.LackeyParams(path=str(trace), kinds="L")))
    assert (loads.accesses, loads.writes) == (3663, 0)
    capped = summarize(lackey.generate(lackey.LackeyParams(path=str(trace), max_refs=100)))
    assert capped.accesses == 100 and capped.touched_pages <= 100


def test_kinds_select_records_and_map_to_access_kinds(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "t.lackey"
    path.write_text("I  00401000,3\n L 00601000,8\n S 00601008,8\n M 00601010,4\n"
                    "I  ffffffffff600000,4\n")  # the vsyscall page: dropped
    ev = lackey.generate(lackey.LackeyParams(path=str(path), kinds="ILSM"))
    validate(ev)
    assert ev["arg"][ev["op"] == Ev.ACCESS].tolist() == [Access.FETCH, Access.READ,
                                                         Access.WRITE, Access.WRITE]
    ev = lackey.generate(lackey.LackeyParams(path=str(path), kinds="SM"))
    assert ev["va"][ev["op"] == Ev.ACCESS].tolist() == [0x601008, 0x601010]
    assert summarize(ev).maps == 1


@pytest.mark.parametrize("kinds", ["", "SL", "LL", "LSX", "lsm"])
def test_kinds_have_one_spelling(kinds: str) -> None:
    with pytest.raises(InputError, match=r"workload\.kinds must be letters of ILSM"):
        build(lackey.LackeyParams, {"workload.kinds": kinds})


hexdigits = st.integers(0, 2**64 - 1)


@st.composite
def lines(draw: st.DrawFn) -> str:
    what = draw(st.sampled_from(["record", "record", "record", "banner", "blank"]))
    if what == "record":
        kind = draw(st.sampled_from(["I  ", " L ", " S ", " M "]))
        addr = draw(hexdigits)
        width = draw(st.integers(len(f"{addr:x}"), 16))
        text = f"{addr:0{width}x}"
        if draw(st.booleans()):
            text = text.upper()
        line = f"{kind}{text},{draw(st.integers(0, 10**9 - 1))}"
    elif what == "banner":
        mark = draw(st.sampled_from(["==", "--", "**"]))
        words = draw(st.text(st.characters(codec="ascii", exclude_characters="\n"), max_size=30))
        line = f"{mark}{draw(st.integers(0, 99999))}{mark} {words}"
    else:
        line = draw(st.sampled_from(["", " ", "\t", "  "]))
    return line + draw(st.sampled_from(["", "", " ", "\r", " \t"]))


@st.composite
def traces(draw: st.DrawFn) -> bytes:
    body = "\n".join(draw(st.lists(lines(), max_size=40)))
    return (body + draw(st.sampled_from(["", "\n", "\r\n"]))).encode()


@DERANDOMIZED
@given(traces())
def test_compiled_parser_agrees_with_the_reference(data: bytes) -> None:
    expected = reference(data)
    assert not isinstance(expected, int)
    assert compiled(data) == expected


MALFORMED = [
    "L 00401000,4",            # no leading space
    " X 00401000,4",           # unknown kind
    "I 00401000,4",            # one space after I
    " L ,4",                   # no address
    " L 00401000,",            # no size
    " L 00401000;4",           # wrong separator
    " L 00401000,4x",          # junk after the size
    " L 0x401000,4",           # 0x prefix
    " L 12345678901234567,4",  # 17 hex digits: more than 64 bits
    " L 00401000,1234567890",  # a 10-digit size
    " L 00401000 ,4",          # space before the comma
    "Segmentation fault",      # program output in the log
    "==",                      # a truncated banner
    "  ==12== indented",       # not at the start of the line
    " L",                      # truncated record
]


@DERANDOMIZED
@given(st.lists(lines(), max_size=20), st.sampled_from(MALFORMED), st.data())
def test_a_malformed_line_is_named_by_its_number(good: list[str], bad: str,
                                                 data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(good)))
    text = "\n".join([*good[:at], bad, *good[at:]]) + "\n"
    assert reference(text.encode()) == at + 1
    with pytest.raises(InputError) as info:
        lackey.parse_bytes(text.encode(), "trace.lackey")
    message = str(info.value)
    assert message.startswith(f"trace.lackey:{at + 1}: malformed lackey line {bad.rstrip()!r}")
    assert "\n" not in message


def test_malformed_file_error_names_the_file(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "broken.lackey"
    path.write_text(" L 00401000,4\n S 00401000,4\r\n" + "x" * 100 + "\n")
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}:3: malformed lackey line "
                                         r"'x{57}\.\.\.'"):
        lackey.load(path)
    assert not list(cache.glob("*.npz"))  # nothing cached for a bad file


def test_cache_hit_skips_the_parser(trace: Path, cache: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    scan = lackey.scan
    monkeypatch.setattr(lackey, "scan", lambda *a: calls.append(1) or scan(*a))
    first = lackey.load(trace)
    assert len(calls) == 1 and cache.is_dir()
    digest = file_digest(trace)
    stored = cache / f"lackey-v{lackey.FORMAT}-{digest}.npz"
    assert [p.name for p in cache.iterdir()] == [stored.name]
    with np.load(stored, allow_pickle=False) as z:  # plain arrays, no pickle
        assert {k: z[k].dtype.str for k in z.files} == {"addr": "<u8", "size": "<u4",
                                                        "kind": "|u1", "meta": "<i8",
                                                        "checksum": "|u1"}
        assert z["meta"].tolist() == [first.lines, 0, 0]
    second = lackey.load(trace)
    assert len(calls) == 1
    moved = trace.with_name("renamed.trace")
    shutil.move(trace, moved)
    third = lackey.load(moved)
    assert len(calls) == 1
    for other in (second, third):
        assert other.digest == first.digest == digest
        for name in ("addr", "size", "kind"):
            assert np.array_equal(getattr(other, name), getattr(first, name))


def test_changed_content_is_parsed_again(trace: Path, cache: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    before = lackey.load(trace)
    calls = []
    scan = lackey.scan
    monkeypatch.setattr(lackey, "scan", lambda *a: calls.append(1) or scan(*a))
    with trace.open("a") as f:
        f.write(" S 7ff000123456,8\n")
    after = lackey.load(trace)
    assert calls == [1] and after.digest != before.digest
    assert len(after.addr) == len(before.addr) + 1 and after.addr[-1] == 0x7FF000123456
    assert len(list(cache.glob("*.npz"))) == 2


def test_a_corrupt_cache_entry_is_rebuilt(trace: Path, cache: Path) -> None:
    first = lackey.load(trace)
    (entry,) = cache.glob("*.npz")
    entry.write_bytes(b"not a zip")
    with pytest.warns(RuntimeWarning, match=r"damaged cache entry \(unreadable: "):
        again = lackey.load(trace)
    assert np.array_equal(again.addr, first.addr)
    with np.load(entry, allow_pickle=False) as z:
        assert len(z["addr"]) == 6000


def test_gzip_files_are_read_and_keyed_by_their_own_bytes(trace: Path, cache: Path,
                                                         tmp_path: Path) -> None:
    packed = tmp_path / "t.lackey.gz"
    packed.write_bytes(gzip.compress(trace.read_bytes()))
    plain, zipped = lackey.load(trace), lackey.load(packed)
    assert np.array_equal(plain.addr, zipped.addr) and plain.digest != zipped.digest


def test_unreadable_and_missing_paths_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"workload\.path: the lackey workload needs a trace"):
        lackey.generate(lackey.LackeyParams())
    with pytest.raises(InputError, match=r"^workload\.path: .*missing\.lackey: no such file$"):
        lackey.identity(lackey.LackeyParams(path=str(tmp_path / "missing.lackey")))


@dataclass(frozen=True)
class NoParams:
    """A mechanism without parameters."""


def _count(data: np.ndarray, params: NoParams, platform: object) -> Metrics:
    return Metrics({"refs.total": summarize(data).accesses})


def test_identity_replaces_the_path_in_the_design_point_key(trace: Path, cache: Path,
                                                            tmp_path: Path) -> None:
    registry = Registry.of([*lackey.WORKLOADS,
                            Mechanism("count", ("memory",), "", NoParams, _count)])

    def point(path: Path, **extra: object) -> object:
        return resolve(Point("lackey", "count", params={"workload.path": str(path), **extra}),
                       registry)

    copy = tmp_path / "elsewhere" / "copy.lackey"
    copy.parent.mkdir()
    shutil.copy(trace, copy)
    a, b = point(trace), point(copy)
    assert a.key == b.key and a.workload_key == b.workload_key
    assert a.params["workload.path"] == str(trace)  # shown as given, keyed by content
    assert point(trace, **{"workload.kinds": "LS"}).key != a.key
    assert run_resolved(a)["refs.total"] == 6000
    with copy.open("a") as f:
        f.write(" L 00001000,4\n")
    c = point(copy)
    assert c.key != a.key
    assert run_resolved(c)["refs.total"] == 6001
    with pytest.raises(InputError, match=r"gone\.lackey: no such file"):
        point(tmp_path / "gone.lackey")


# Bad input: every case is one InputError line naming the file, the line and what was expected.

GOOD = "==42== Lackey, a memory tracer\nI  00401000,4\n L 00601000,8\n S 00601008,8\n"


def bad_input(path: Path, **params: object) -> str:
    """The message of the InputError that generating the lackey stream of ``path`` raises."""
    with pytest.raises(InputError) as info:
        lackey.generate(lackey.LackeyParams(path=str(path), **params))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file_names_the_file(tmp_path: Path, cache: Path) -> None:
    missing = tmp_path / "missing.lackey"
    assert bad_input(missing) == f"workload.path: {missing}: no such file"


def test_empty_file_is_named_at_line_one(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "empty.lackey"
    path.write_bytes(b"")
    assert bad_input(path).startswith(f"{path}:1: empty lackey trace; expected Valgrind "
                                      "lackey output")
    packed = tmp_path / "empty.lackey.gz"
    packed.write_bytes(gzip.compress(b""))
    assert bad_input(packed).startswith(f"{packed}:1: empty lackey trace")


def test_a_trace_without_data_references_is_named_at_its_last_line(tmp_path: Path,
                                                                   cache: Path) -> None:
    path = tmp_path / "fetches.lackey"
    path.write_text("==42== Lackey\nI  00401000,4\n\nI  00401004,2\n==42== exit\n")
    assert bad_input(path) == (
        f"{path}:5: no reference of kinds 'LSM' below 2**47 in 5 lines (2 records); expected "
        "at least one ' L ADDR,SIZE' or ' S ADDR,SIZE' or ' M ADDR,SIZE' line "
        "(workload.kinds selects the kinds)")
    # Fetches are not bad lines: asked for, they are the stream.
    ev = lackey.generate(lackey.LackeyParams(path=str(path), kinds="I"))
    assert summarize(ev).fetches == 2
    kernel = tmp_path / "vsyscall.lackey"
    kernel.write_text(" L ffffffffff600000,8\n")
    assert bad_input(kernel).startswith(f"{kernel}:1: no reference of kinds 'LSM' below 2**47")


@pytest.mark.parametrize(("line", "why"), [
    (" L 0060g000,8", "bad hex"),
    (" L 00601000 8", "missing comma"),
    (" L 00601000,eight", "size not a number"),
    (" X 00601000,8", "unknown record letter"),
    ("Segmentation fault (core dumped)", "program output"),
])
def test_a_malformed_line_in_the_middle_names_file_and_line(tmp_path: Path, cache: Path,
                                                           line: str, why: str) -> None:
    path = tmp_path / "bad.lackey"
    path.write_text(GOOD + line + "\n" + GOOD)
    assert bad_input(path) == (
        f"{path}:5: malformed lackey line {line!r}; expected 'I  ADDR,SIZE', ' L ADDR,SIZE', "
        "' S ...', ' M ...' or a ==PID== banner (workload.skip_bad_lines = true skips bad "
        "lines)"), why


def test_banners_and_unrequested_fetches_are_not_bad_lines(tmp_path: Path,
                                                           cache: Path) -> None:
    path = tmp_path / "t.lackey"
    path.write_text("==42== banner\n--42-- note\n**42** warning\n" + GOOD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing skipped, nothing said
        ev = lackey.generate(lackey.LackeyParams(path=str(path)))
    assert summarize(ev).accesses == 2


def test_a_truncated_last_line_is_named(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "cut.lackey"
    path.write_text(GOOD + " S 0060")
    assert bad_input(path).startswith(f"{path}:5: truncated last line ' S 0060'; expected "
                                      "'I  ADDR,SIZE'")
    assert not list(cache.glob("*.npz"))


@pytest.mark.parametrize("damage", ["cut", "flipped", "crc"])
def test_a_corrupt_gzip_trace_names_the_line_where_its_text_ends(
        trace: Path, tmp_path: Path, cache: Path, damage: str) -> None:
    packed = bytearray(gzip.compress(trace.read_bytes()))
    if damage == "cut":
        packed = packed[: len(packed) // 2]
    elif damage == "flipped":
        packed[len(packed) // 2: len(packed) // 2 + 64] = bytes(64)
    else:
        packed[-8] ^= 0xFF  # the CRC-32 of the trailer
    path = tmp_path / "t.lackey.gz"
    path.write_bytes(bytes(packed))
    message = bad_input(path)
    match = re.fullmatch(re.escape(str(path)) + r":(\d+): corrupt gzip data \(.+\) after "
                         r"(\d+) readable lines; expected a complete gzip-compressed lackey "
                         r"trace", message)
    assert match, message
    line, readable = int(match.group(1)), int(match.group(2))
    assert line == readable + 1
    total = trace.read_bytes().count(b"\n")
    assert (0 < line < total) if damage != "crc" else line == total + 1
    assert not list(cache.glob("*.npz"))


def write_with_bad_lines(tmp_path: Path, trace: Path) -> tuple[Path, Path, list[int]]:
    """The committed trace with bad lines spliced in, a truncated end; and the clean copy."""
    lines = trace.read_text().splitlines(keepends=True)
    bad_at = [10, 500, 3001]  # 0-based positions in the clean file
    dirty = list(lines)
    for offset, at in enumerate(bad_at):
        dirty.insert(at + offset, " L 0040zz00,4\n")
    dirty.append(" S 00")
    path = tmp_path / "dirty.lackey"
    path.write_text("".join(dirty))
    numbers = [at + offset + 1 for offset, at in enumerate(bad_at)] + [len(dirty)]
    return path, trace, numbers


def test_skip_bad_lines_skips_counts_and_warns(trace: Path, tmp_path: Path,
                                              cache: Path) -> None:
    dirty, clean, numbers = write_with_bad_lines(tmp_path, trace)
    assert bad_input(dirty).startswith(f"{dirty}:{numbers[0]}: malformed lackey line")
    with pytest.warns(RuntimeWarning) as caught:
        ev = lackey.generate(lackey.LackeyParams(path=str(dirty), skip_bad_lines=True))
    (warning,) = caught
    assert str(warning.message) == (f"{dirty}: skipped 4 bad lackey lines (first: line "
                                    f"{numbers[0]}) because workload.skip_bad_lines is true")
    expected = lackey.generate(lackey.LackeyParams(path=str(clean)))
    assert ev.tobytes() == expected.tobytes()  # the good lines, as if the bad ones were absent
    t = lackey.scan(dirty.read_bytes(), str(dirty), skip_bad_lines=True)
    assert (t.skipped, t.first_bad, t.lines) == (4, numbers[0], numbers[-1])


def test_skip_bad_lines_and_the_cache(trace: Path, tmp_path: Path, cache: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    dirty, clean, numbers = write_with_bad_lines(tmp_path, trace)
    calls = []
    scan = lackey.scan
    monkeypatch.setattr(lackey, "scan", lambda *a: calls.append(a[2]) or scan(*a))
    with pytest.warns(RuntimeWarning, match="skipped 4 bad lackey lines"):
        lackey.load(dirty, skip_bad_lines=True)
    with pytest.warns(RuntimeWarning, match="skipped 4"):  # from the cache: said again
        cached = lackey.load(dirty, skip_bad_lines=True)
    assert calls == [True] and cached.skipped == 4
    # A strict load never takes the entry that skipped lines: it parses again, and fails.
    with pytest.raises(InputError, match=rf":{numbers[0]}: malformed lackey line"):
        lackey.load(dirty)
    assert calls == [True, False]
    # A clean file's entry serves both.
    lackey.load(clean)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lackey.load(clean, skip_bad_lines=True).skipped == 0
    assert calls == [True, False, False]
    assert len(list(cache.glob("*.npz"))) == 2


def test_skip_bad_lines_is_part_of_the_design_point_key(trace: Path, cache: Path) -> None:
    registry = Registry.of([*lackey.WORKLOADS,
                            Mechanism("count", ("memory",), "", NoParams, _count)])
    keys = {resolve(Point("lackey", "count", params={"workload.path": str(trace),
                                                     "workload.skip_bad_lines": skip}),
                    registry).key for skip in (False, True)}
    assert len(keys) == 2


def test_the_cli_reports_a_bad_trace_in_one_line(tmp_path: Path, cache: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from codesign.cli import main

    path = tmp_path / "bad.lackey"
    path.write_text(GOOD + " L 00601000;8\n")
    status = main(["run", "--workload", "lackey", "--mechanism", "native",
                   "--set", f"workload.path={path}"])
    err = capsys.readouterr().err
    assert status == 2
    assert err == (f"codesign: error: {path}:5: malformed lackey line ' L 00601000;8'; "
                   "expected 'I  ADDR,SIZE', ' L ADDR,SIZE', ' S ...', ' M ...' or a ==PID== "
                   "banner (workload.skip_bad_lines = true skips bad lines)\n")


def test_the_cli_prints_the_skip_warning_on_one_line(tmp_path: Path) -> None:
    dirty = tmp_path / "dirty.lackey"
    dirty.write_text(" L 1000,4\n L zz,4\n S 2000,8\n")
    r = run_cli("run", "--workload", "lackey", "--mechanism", "native",
                "--set", f"workload.path={dirty}", "--set", "workload.skip_bad_lines=true",
                "--set", "hw.cost=false")
    assert r.returncode == 0, r.stderr
    assert r.stderr == (f"codesign: warning: {dirty}: skipped 1 bad lackey line (first: line 2)"
                        " because workload.skip_bad_lines is true\n")
