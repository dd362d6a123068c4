"""The behavioural model's fast paths keep its events exact.

The kernel keeps descriptors as 32-bit words, each IOTLB way as a packed (valid, tag, domain)
key plus the cached page-table entry, LRU order as use stamps, and returns interrupt columns as
views of a buffer sized for the worst case. Its interrupt logic takes shortcuts: a completion
that leaves its vector alone eligible raises the next cycle's interrupt at once, and a throttle
interval running out is looked at only if its vector waits on it. Shortcuts that depend on what
comes next (the batch's end, the next operation) must give the events of the general path
whatever the batch boundaries; these tests pin that (the RTL differential suite covers the rest).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from hwmodels.nic import NICModel, NICOp, NICParams, OpBatch, Perm, Status
from hwmodels.nic.stream import multi_vm_stream
from tests.hwmodels.nic.harness import CONFIGS, concat_batches, random_ops, setup_ops

SMALL = NICParams(queues=8, vfs=3, filters=4, ring_size=8, vlans=4, itr_us=0.4,
                  irq_threshold=4, iotlb_entries=8, iotlb_ways=2, iova_bits=16, pa_bits=32)


def test_descriptor_keeps_every_bit_of_a_32_bit_iova() -> None:
    p = NICParams(queues=2, filters=2, ring_size=4, vlans=2, iova_bits=32, pa_bits=52,
                  iotlb_entries=8)
    nic = NICModel(p)
    top = 0xFFFF_F000
    nic.configure([NICOp.vlan_enable(0), NICOp.map(0, top, pfn=(1 << 40) - 1, perms=Perm.W)])
    nic.post(0, [top | 0xABC])
    e = nic.rx(0x0200_0000_0001)
    assert (e.status, e.dma_addr) == (Status.OK, ((1 << 40) - 1) << 12 | 0xABC)


def test_invalidation_keeps_the_packed_iotlb_keys_in_step() -> None:
    p = NICParams(queues=2, filters=2, ring_size=8, vlans=2, iova_bits=16, iotlb_entries=8)
    nic = NICModel(p)
    nic.configure([NICOp.vlan_enable(0), NICOp.map(0, 0x3000, pfn=0x42)])
    nic.post(0, [0x3000, 0x3100, 0x3200, 0x3300])
    assert nic.rx(1).iotlb_hit == 0
    assert nic.rx(1).iotlb_hit == 1
    nic.configure([NICOp.inv_page(0, 0x3000)])
    assert nic.rx(1).iotlb_hit == 0
    nic.configure([NICOp.inv_domain(0)])
    assert nic.rx(1).iotlb_hit == 0


def test_split_batches_give_the_events_of_one_batch() -> None:
    ops = multi_vm_stream(SMALL, 3000, seed=3, load=1.3, chunk=24)
    whole = NICModel(SMALL).run(ops)
    nic = NICModel(SMALL)
    cuts = [0, 1, 777, 778, 2500, len(ops)]
    parts = [nic.run(ops[a:b]) for a, b in pairwise(cuts)]
    for f, col in whole.events.items():
        assert np.array_equal(np.concatenate([r.events[f] for r in parts]), col), f
    # Interrupt columns are views of per-run buffers: earlier results stay intact.
    assert np.array_equal(np.concatenate([r.irq_cycle for r in parts]), whole.irq_cycle)
    assert np.array_equal(np.concatenate([r.irq_vector for r in parts]), whole.irq_vector)
    assert len(whole.irq_cycle) > 100


def test_empty_batch_and_idle_only() -> None:
    nic = NICModel(SMALL)
    r = nic.run(OpBatch.empty(), until=10)
    assert len(r) == 0 and r.irqs() == []


@pytest.mark.parametrize("name", list(CONFIGS))
def test_any_batch_boundaries_and_idle_ends_give_the_same_events(name: str) -> None:
    p = CONFIGS[name]
    rng = np.random.default_rng(11)
    for seed in range(6):
        ops = concat_batches(OpBatch.from_ops(setup_ops(p)), random_ops(p, 1500, seed=seed))
        end = int(ops.cycle[-1]) + 60
        whole = NICModel(p).run(ops, until=end)
        nic = NICModel(p)
        cuts = sorted({0, len(ops), *rng.integers(1, len(ops), 12).tolist()})
        parts = []
        for a, b in pairwise(cuts):
            # Stop anywhere from the cycle after the part's last operation to the next one's.
            nxt = int(ops.cycle[b]) if b < len(ops) else end
            start, until = nic.now, int(rng.integers(int(ops.cycle[b - 1]) + 1, nxt + 1))
            parts.append(nic.run(ops[a:b], until=until))
            # A run reports the interrupts of its own cycles only.
            assert all(start <= c < until for c, _ in parts[-1].irqs())
        parts.append(nic.run(OpBatch.empty(), until=end))
        for f, col in whole.events.items():
            assert np.array_equal(np.concatenate([r.events[f] for r in parts]), col), f
        assert [irq for r in parts for irq in r.irqs()] == whole.irqs()


def test_stream_takes_every_interrupt_path() -> None:
    # Interrupts right after a completion (the shortcut), at the end of a throttle interval a
    # vector waited on, and several vectors due in one cycle (one per cycle, lowest first).
    ops = multi_vm_stream(SMALL, 3000, seed=3, load=1.3, chunk=24)
    r = NICModel(SMALL).run(ops)
    done = set((ops.cycle[(r.events["status"] == Status.OK)] + 1).tolist())
    after_completion = np.isin(r.irq_cycle, list(done))
    assert after_completion.sum() > 100 and (~after_completion).sum() > 100
    assert (np.diff(r.irq_cycle) == 1).sum() > 10
