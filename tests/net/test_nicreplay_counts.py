"""The NIC replay counts what the NIC did in one compiled pass per batch -- exactly what
:func:`hwmodels.nic.count_events` counts, on random batches run through the model -- and
gives the same a chunk of frames at a time as all at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.net.nicreplay import COUNTERS, _classify, _tally, owners
from hwmodels.nic import NICModel, NICParams, count_events
from tests.hwmodels.nic.harness import random_ops

PARAMS = NICParams(queues=4, filters=4, vlans=4, ring_size=8, iotlb_entries=4, iova_bits=16)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400))
def test_the_compiled_tally_is_count_events(seed: int, n: int) -> None:
    ops = random_ops(PARAMS, n, seed)
    res = NICModel(PARAMS).run(ops, check=False)
    ev = res.events
    tally = np.zeros(len(COUNTERS), dtype=np.int64)
    _tally(ops.cols["op"], ev["status"], ev["iotlb_hit"], ev["walk_refs"], tally)
    want = count_events(ops, res)
    assert dict(zip(COUNTERS, tally.tolist(), strict=True)) == {k: want[k] for k in COUNTERS}
    assert set(want) - set(COUNTERS) == {"nic.irq.raised"}
    # the batch's statuses are not all alike: the tally is tested on every branch it has
    if n >= 200:
        assert len(np.unique(ev["status"])) >= 3


@pytest.mark.parametrize("mechanism,extra", [
    ("native-net", {}), ("multiqueue", {}), ("sriov", {}),
    ("sriov", {"iommu.strategy": "strict"}), ("sriov", {"iommu.strategy": "deferred"})])
def test_the_nic_replayed_a_chunk_at_a_time_is_the_nic_replayed_at_once(
        mechanism: str, extra: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every layout and IOMMU strategy: the frames of each chunk get the status, queue, VM
    and walk references of one replay of all, and the counters and interrupts are equal."""
    import codesign.net.common as common
    from codesign.net.nicreplay import NICReplayer, replay
    from tests.net.helpers import run, stream

    checked = []

    def both(frames: Any, done: np.ndarray, nic: Any, layout: Any) -> Any:
        whole = replay(frames, done, nic, layout)
        n = len(done)
        for size in (1, 97, 4096):
            nr = NICReplayer(frames, nic, layout)
            parts = []
            for lo in range(0, n, size):
                hi = min(n, lo + size)
                part = {f: v[lo:hi] for f, v in frames.items()}
                parts.append(nr.feed(part, done[lo:hi], done[hi] if hi < n else None))
            counters, irq_ns = nr.finish()
            for i, name in enumerate(("status", "queue", "vm", "walk_refs")):
                np.testing.assert_array_equal(np.concatenate([p[i] for p in parts]),
                                              getattr(whole, name), err_msg=name)
            assert counters == whole.counters
            assert irq_ns.keys() == whole.irq_ns.keys()
            for v, t in irq_ns.items():
                np.testing.assert_array_equal(t, whole.irq_ns[v])
        checked.append(n)
        return whole

    monkeypatch.setattr(common, "replay", both)
    run(mechanism, stream("imix", packets=4_000, offered_gbps=6.0, vms=3), **extra)
    assert checked and checked[0] > 1000


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3000),
       distinct=st.sampled_from([1, 3, 40, 700]))
def test_addresses_are_found_and_classified_as_a_sort_finds_them(seed: int, n: int,
                                                                 distinct: int) -> None:
    """The compiled first-seen pass (its table grown past 32, 64 and 512 addresses) and the
    per-frame search give what np.unique and np.searchsorted give."""
    rng = np.random.default_rng(seed)
    macs = rng.integers(0, 1 << 48, distinct, dtype=np.uint64)
    pick = rng.integers(0, distinct, n)
    frames = {"dst_mac": macs[pick], "vlan": rng.integers(0, 4096, distinct).astype(
        np.uint16)[pick], "vm": rng.integers(0, 64, n).astype(np.uint16)}
    key = (frames["dst_mac"] << np.uint64(12)) | frames["vlan"]
    addr, first = np.unique(key, return_index=True)
    got = owners(frames)
    assert got[0].tolist() == (addr >> np.uint64(12)).tolist()
    assert got[1].tolist() == (addr & np.uint64(0xFFF)).astype(np.int64).tolist()
    assert got[2].tolist() == frames["vm"][first].astype(np.int64).tolist()
    q_of, vm_of = rng.integers(0, 9, len(addr)), rng.integers(0, 9, len(addr))
    queue, vm = np.empty(n, np.int64), np.empty(n, np.int64)
    _classify(frames["dst_mac"], frames["vlan"], addr, q_of, vm_of, queue, vm)
    at = np.searchsorted(addr, key)
    assert queue.tolist() == q_of[at].tolist() and vm.tolist() == vm_of[at].tolist()
