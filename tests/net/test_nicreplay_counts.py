"""The NIC replay counts what the NIC did in one compiled pass per batch: exactly what
:func:`hwmodels.nic.count_events` counts, on random batches run through the model."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.net.nicreplay import COUNTERS, _tally
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
