"""The NIC's semantics, written once and run at every level (model, FastSimulation, Compiled).

Expected values are worked out by hand from the documented semantics (hwmodels/nic/model.py),
not read back from either implementation.
"""

from __future__ import annotations

from collections.abc import Callable

from hwmodels.nic import (
    NICEvent,
    NICFrontend,
    NICOp,
    NICParams,
    OpBatch,
    Perm,
    Ring,
    Status,
    toeplitz,
)

MakeNIC = Callable[[NICParams], NICFrontend]

# 4 queues, ring of 4 (3 usable), 10-cycle throttle, threshold 3, 2-entry fully associative
# LRU IOTLB, 16 I/O pages per domain.
PF = NICParams(queues=4, filters=2, ring_size=4, vlans=4, itr_us=0.04, irq_threshold=3,
               iotlb_entries=2, iotlb_ways=2, iova_bits=16, pa_bits=32)
# The same with one VF: pools of 2 queues (PF: 0-1, VF 1: 2-3).
VF = NICParams(queues=4, vfs=1, filters=2, ring_size=4, vlans=4, itr_us=0.04,
               irq_threshold=3, iotlb_entries=2, iotlb_ways=2, iova_bits=16, pa_bits=32)

MAC_A, MAC_B = 0x0200_0000_00AA, 0x0200_0000_00BB
OK, DENIED = Status.OK, Status.DENIED


def test_vlan_table_and_default_queue(make_nic: MakeNIC) -> None:
    nic = make_nic(PF)
    assert nic.rx(MAC_A, vlan=0) == NICEvent(status=Status.DROP_VLAN)
    assert nic.step(NICOp.vlan_enable(0)) == NICEvent()
    # A miss goes to the default queue 0, whose ring is empty.
    assert nic.rx(MAC_A, vlan=0) == NICEvent(status=Status.DROP_NO_DESC)
    assert nic.step(NICOp.default_queue(1)) == NICEvent()
    assert nic.rx(MAC_A, vlan=0) == NICEvent(status=Status.DROP_NO_DESC, queue=1)
    assert nic.rx(MAC_A, vlan=1).status == Status.DROP_VLAN
    assert nic.rx(MAC_A, vlan=4).status == Status.DROP_VLAN  # beyond the 4-entry table
    assert nic.step(NICOp.vlan_enable(4)).status == DENIED
    assert nic.step(NICOp.vlan_enable(0, on=False)) == NICEvent()
    assert nic.rx(MAC_A, vlan=0).status == Status.DROP_VLAN


def test_filters_choose_a_queue_set_and_hash_spreads_within_it(make_nic: MakeNIC) -> None:
    nic = make_nic(PF)
    nic.configure([NICOp.vlan_enable(0), NICOp.vlan_enable(3),
                   NICOp.filter(1, MAC_A, 3, queue=2, spread_bits=1),
                   NICOp.filter(0, MAC_B, 0, queue=0, spread_bits=2)])
    flows = [0x420995BB_A18E6450, 1, 2, 3, 0xFFFF_0000_1234_5678]
    for flow in flows:
        assert nic.rx(MAC_B, 0, flow).queue == toeplitz(flow) & 3
        assert nic.rx(MAC_A, 3, flow).queue == 2 | (toeplitz(flow) & 1)
    assert len({toeplitz(f) & 3 for f in flows}) >= 3
    # MAC and VLAN both have to match.
    assert nic.rx(MAC_A, 0, 0).queue == 0
    # The lowest matching index wins; invalidating it lets the next one answer.
    nic.step(NICOp.filter(0, MAC_A, 3, queue=1))
    assert nic.rx(MAC_A, 3, 2).queue == 1
    nic.step(NICOp.filter(0, MAC_A, 3, queue=1, valid=False))
    assert nic.rx(MAC_A, 3, 2).queue == 2 | (toeplitz(2) & 1)


def test_filter_queue_sets_must_be_aligned_and_inside_a_pool(make_nic: MakeNIC) -> None:
    nic = make_nic(VF)
    assert nic.step(NICOp.filter(0, MAC_A, 0, queue=1, spread_bits=1)).status == DENIED
    assert nic.step(NICOp.filter(0, MAC_A, 0, queue=0, spread_bits=2)).status == DENIED
    assert nic.step(NICOp.filter(0, MAC_A, 0, queue=2, spread_bits=1)) == NICEvent()
    assert nic.step(NICOp.default_queue(2)).status == DENIED  # misses stay with the PF


def test_receive_ring_consumes_in_order_then_drops(make_nic: MakeNIC) -> None:
    nic = make_nic(PF)
    nic.configure([NICOp.vlan_enable(0), NICOp.map(0, 0x5000, pfn=0x77)])
    nic.post(0, [0x5000, 0x5800, 0x5FC0])
    got = [nic.rx(MAC_A) for _ in range(4)]
    assert [(e.status, e.slot, e.dma_addr) for e in got] == [
        (OK, 0, 0x77000), (OK, 1, 0x77800), (OK, 2, 0x77FC0), (Status.DROP_NO_DESC, 0, 0)]
    # Refill: the ring wraps (slots 3, 0).
    nic.post(0, [0x5100, 0x5200])
    assert [nic.rx(MAC_A).slot for _ in range(3)] == [3, 0, 0]


def test_transmit_round_robin_each_ring_in_order(make_nic: MakeNIC) -> None:
    nic = make_nic(PF)
    nic.configure([NICOp.map(0, 0x1000, pfn=0x10, perms=Perm.R)])
    nic.post(2, [0x1000, 0x1100], ring=Ring.TX)
    nic.post(1, [0x1200, 0x1300, 0x1400], ring=Ring.TX)
    got = [nic.tx() for _ in range(6)]
    assert [(e.queue, e.slot, e.dma_addr) for e in got[:5]] == [
        (1, 0, 0x10200), (2, 0, 0x10000), (1, 1, 0x10300), (2, 1, 0x10100), (1, 2, 0x10400)]
    assert got[5] == NICEvent()


def test_iotlb_hits_misses_walks_and_invalidation(make_nic: MakeNIC) -> None:
    nic = make_nic(PF)
    nic.configure([NICOp.vlan_enable(0), NICOp.map(0, 0x1000, pfn=1),
                   NICOp.map(0, 0x2000, pfn=2), NICOp.map(0, 0x3000, pfn=3, perms=Perm.R)])
    nic.post(0, [0x1000, 0x1800, 0x2000])
    walks = [(e.iotlb_hit, e.walk_refs) for e in (nic.rx(MAC_A) for _ in range(3))]
    assert walks == [(0, 4), (1, 0), (0, 4)]
    nic.step(NICOp.inv_page(0, 0x1000))
    nic.post(0, [0x1010])
    e = nic.rx(MAC_A)
    assert (e.status, e.iotlb_hit, e.walk_refs, e.dma_addr) == (OK, 0, 4, 0x1010)
    # Unmapped page: fault, nothing written, not cached (walks again).
    nic.post(0, [0x4000, 0x4000, 0x3000])
    assert [(e.status, e.iotlb_hit, e.walk_refs, e.dma_addr) for e in
            (nic.rx(MAC_A) for _ in range(3))] == [
        (Status.FAULT, 0, 4, 0), (Status.FAULT, 0, 4, 0), (Status.FAULT, 0, 4, 0)]
    # Read-only page: a transmit may read it; it is now cached.
    nic.post(0, [0x3000], ring=Ring.TX)
    assert (nic.tx().status, nic.now) == (OK, nic.now)
    # A stale IOTLB entry outlives its unmapping until invalidated (strict unmap needs both).
    # (Page 3 took the least recently used entry, page 2's; page 1 is still cached.)
    nic.configure([NICOp.map(0, 0x1000, pfn=1, present=False)])
    nic.post(0, [0x1000, 0x1000])
    assert (nic.rx(MAC_A).status, nic.step(NICOp.inv_domain(0)).status) == (OK, Status.NONE)
    assert nic.rx(MAC_A).status == Status.FAULT


def test_interrupt_throttle_threshold_and_mask(make_nic: MakeNIC) -> None:
    nic = make_nic(PF)  # throttle 10 cycles, threshold 3
    nic.configure([NICOp.vlan_enable(0), NICOp.map(0, 0, pfn=9)])
    nic.post(0, [0, 0x100])
    t = nic.now
    nic.rx(MAC_A)  # completes at t, counted from t + 1
    assert nic.idle(1) == [(t + 1, 0)]  # the first interrupt is not held back
    nic.rx(MAC_A)  # t + 2
    assert nic.idle(20) == [(t + 11, 0)]  # 10 cycles after the previous one
    # Threshold: the third completion since the last interrupt raises it at once.
    nic.post(0, [0x300, 0x400, 0x500])
    s = nic.now
    got = nic.run(OpBatch.from_ops([NICOp.rx(MAC_A)] * 3, start=s))  # s, s+1, s+2
    assert got.irqs() == [(s + 1, 0)]  # then counts: frame s+1 and s+2 -> 2
    nic.post(0, [0x600, 0x700, 0x800])  # s+3 .. s+6
    nic.rx(MAC_A)  # s+7: count 3
    assert nic.idle(5) == [(s + 8, 0)]  # not waiting for s + 11
    # Masked: completions accumulate, the vector fires when unmasked.
    nic.step(NICOp.irq_mask(0, True))
    nic.rx(MAC_A)
    assert nic.idle(30) == []
    u = nic.now
    nic.step(NICOp.irq_mask(0, False))
    assert nic.idle(3) == [(u + 1, 0)]


def test_no_threshold_makes_the_throttle_a_hard_cap_and_ack_re_arms(make_nic: MakeNIC) -> None:
    from dataclasses import replace

    nic = make_nic(replace(PF, irq_threshold=0))  # throttle 10 cycles, no early interrupt
    nic.configure([NICOp.vlan_enable(0), NICOp.map(0, 0, pfn=9)])
    nic.post(0, [0, 0x100, 0x200])
    t = nic.now
    got = nic.run(OpBatch.from_ops([NICOp.rx(MAC_A)] * 3, start=t))  # t, t+1, t+2
    assert got.irqs() == [(t + 1, 0)]
    assert nic.idle(20) == [(t + 11, 0)]  # three completions wait for the interval all the same
    # NAPI: masked while the poll runs; re-armed with an ack, what it took raises nothing.
    nic.post(0, [0x300, 0x400])
    nic.step(NICOp.irq_mask(0, True))
    nic.rx(MAC_A)
    nic.rx(MAC_A)
    assert nic.idle(30) == []
    nic.step(NICOp.irq_mask(0, False, ack=True))
    assert nic.idle(30) == []
    # ... while a completion after the re-arm fires (its interval is long over).
    nic.post(0, [0x500])
    u = nic.now
    nic.rx(MAC_A)
    assert nic.idle(3) == [(u + 1, 0)]


def test_one_interrupt_per_cycle_lowest_vector_first(make_nic: MakeNIC) -> None:
    nic = make_nic(PF)
    nic.configure([NICOp.vlan_enable(0), NICOp.map(0, 0, pfn=9),
                   NICOp.filter(0, MAC_A, 0, queue=3), NICOp.default_queue(1)])
    nic.post(3, [0, 0x100])
    nic.post(1, [0x200])
    c = nic.now
    got = nic.run(OpBatch.from_ops([NICOp.rx(MAC_A, at=c), NICOp.rx(MAC_A, at=c + 2),
                                    NICOp.rx(MAC_B, at=c + 10)]), until=c + 20)
    # Vector 3 fires at c+1 and is throttled until c+11; vector 1 becomes eligible at c+11
    # too and, lower, goes first.
    assert got.irqs() == [(c + 1, 3), (c + 11, 1), (c + 12, 3)]


def test_sriov_functions_touch_only_their_own_queues(make_nic: MakeNIC) -> None:
    nic = make_nic(VF)
    # Configuration is the PF's alone.
    for op in (NICOp.filter(0, MAC_A, 0, queue=2, fn=1), NICOp.vlan_enable(0, fn=1),
               NICOp.default_queue(0, fn=1), NICOp.map(1, 0, pfn=5, fn=1),
               NICOp.inv_domain(1, fn=1)):
        assert nic.step(op).status == DENIED
    # Rings and vectors belong to their owner, the PF included.
    assert nic.step(NICOp.desc(0, 0, 0x1000, fn=1)).status == DENIED
    assert nic.step(NICOp.doorbell(1, 2, fn=1)).status == DENIED
    assert nic.step(NICOp.doorbell(2, 2, fn=0)).status == DENIED
    assert nic.step(NICOp.irq_mask(3, True, fn=0)).status == DENIED
    assert nic.step(NICOp.desc(2, 0, 0x1000, fn=1)) == NICEvent()
    # The same I/O address means different memory in the two domains.
    nic.configure([NICOp.vlan_enable(0), NICOp.filter(0, MAC_A, 0, queue=2, spread_bits=1),
                   NICOp.map(0, 0x1000, pfn=0x100), NICOp.map(1, 0x1000, pfn=0x200)])
    nic.post(2, [0x1000], fn=1)
    nic.post(3, [0x1000], fn=1)
    nic.post(0, [0x1000])
    flow = next(f for f in range(16) if toeplitz(f) & 1 == 0)
    e = nic.rx(MAC_A, 0, flow)
    assert (e.status, e.queue, e.fn, e.dma_addr) == (OK, 2, 1, 0x200000)
    e = nic.rx(MAC_B, 0, flow)
    assert (e.status, e.queue, e.fn, e.dma_addr) == (OK, 0, 0, 0x100000)
