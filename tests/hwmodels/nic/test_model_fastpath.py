"""The behavioural model's fast-path storage choices keep its events exact.

The kernel keeps descriptors as 32-bit words, mirrors each IOTLB way's (valid, tag, domain)
as one packed key, and returns interrupt columns as views of a buffer sized for the worst case;
these tests pin what those choices must not change (the RTL differential suite covers the rest).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from hwmodels.nic import NICModel, NICOp, NICParams, OpBatch, Perm, Status
from hwmodels.nic.stream import multi_vm_stream

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
