"""The selection a streamed trace keeps on disk: checked before use, discarded when damaged
(the text parsed again, the same events), never in the way when it cannot be written."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from codesign import resultcache
from codesign.errors import InputError
from codesign.params import build
from workloads.memory import lackey, records
from workloads.memory.chunked import whole


@pytest.fixture(autouse=True)
def _survey_afresh() -> None:
    """Each test's survey runs (and keeps its selection in the test's cache): not the
    process's memo of an earlier test's."""
    resultcache._MEMORY.clear()


def _chunks(trace: Path):
    p = build(lackey.LackeyParams, {"workload.path": str(trace)})
    return lackey.streamed(p, block=4096, piece=1000)


def _entry(cache: Path) -> dict[str, Path]:
    files = sorted((cache / "streams").iterdir())
    return {f.suffix[1:]: f for f in files}


def test_the_survey_keeps_the_selection_and_passes_read_it(trace: Path, cache: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    expected = lackey.generate(build(lackey.LackeyParams, {"workload.path": str(trace)}))
    chunks = _chunks(trace)
    entry = _entry(cache)
    assert set(entry) == {"va", "kind", "json"}
    assert entry["va"].stat().st_size == 8 * chunks.accesses
    assert entry["kind"].stat().st_size == chunks.accesses
    assert json.loads(entry["json"].read_text())["count"] == chunks.accesses

    def no_text(*args, **kwargs):
        raise AssertionError("the text was parsed again")

    monkeypatch.setattr(lackey, "text_pieces", no_text)
    pieces = list(chunks)
    assert len(pieces) == 1 + 6  # the head, then 6,000 references 1,000 at a time
    assert np.array_equal(np.concatenate(pieces), expected)


@pytest.mark.parametrize("damage", ["truncate", "flip", "json", "identity", "missing"])
def test_a_damaged_entry_is_discarded_and_the_text_parsed_again(trace: Path, cache: Path,
                                                                damage: str) -> None:
    expected = whole(_chunks(trace))
    records._VERIFIED.clear()
    entry = _entry(cache)
    if damage == "truncate":
        entry["va"].write_bytes(entry["va"].read_bytes()[:-8])
    elif damage == "flip":
        data = bytearray(entry["va"].read_bytes())
        data[100] ^= 0x40
        entry["va"].write_bytes(bytes(data))
    elif damage == "json":
        entry["json"].write_text("{not json")
    elif damage == "identity":
        description = json.loads(entry["json"].read_text())
        entry["json"].write_text(json.dumps({**description, "identity": "another"}))
    else:
        entry["kind"].unlink()
    chunks = _chunks(trace)
    with pytest.warns(RuntimeWarning, match=r"damaged cache entry \(.*\); discarded, the "
                                            r"trace is parsed again"):
        got = whole(chunks)
    assert np.array_equal(got, expected)
    assert set(_entry(cache)) == {"va", "kind", "json"}  # kept again by that pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(whole(chunks), expected)


def test_impossible_values_found_while_reading_stop_the_pass(trace: Path, cache: Path) -> None:
    chunks = _chunks(trace)
    whole(chunks)
    whole(chunks)  # read and checked once in this process: later damage is found by values
    entry = _entry(cache)
    data = bytearray(entry["kind"].read_bytes())
    data[4500] = 7
    entry["kind"].write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="impossible values after reference 4,000"), \
            pytest.raises(InputError, match="damaged cache entry, discarded while the trace "
                                            "was replayed; run again"):
        whole(chunks)
    assert not (cache / "streams").exists() or not list((cache / "streams").iterdir())


def test_a_cache_that_cannot_be_written_is_a_warning(trace: Path, cache: Path) -> None:
    cache.mkdir()
    (cache / "streams").write_text("a file where the folder would be")
    expected = lackey.generate(build(lackey.LackeyParams, {"workload.path": str(trace)}))
    with pytest.warns(RuntimeWarning, match="cannot write the cache entry"):
        chunks = _chunks(trace)
        assert np.array_equal(whole(chunks), expected)


def test_an_entry_removed_under_a_pass_stops_it_with_one_line(trace: Path, cache: Path) -> None:
    chunks = _chunks(trace)
    kept = records.find(chunks.identity, chunks.accesses)
    assert kept is not None
    _entry(cache)["va"].unlink()  # another process discarded it after the check
    with pytest.warns(RuntimeWarning, match=r"damaged cache entry \(unreadable: No such"), \
            pytest.raises(records.Damaged):
        list(kept.pieces(1000))
    assert not list((cache / "streams").iterdir())  # the rest discarded too
    expected = lackey.generate(build(lackey.LackeyParams, {"workload.path": str(trace)}))
    assert np.array_equal(whole(chunks), expected)  # run again: the text parsed, and kept
