"""NAPI in the queueing simulation is the NIC's interrupt unit under a NAPI driver.

The simulation decides a NAPI hold's interrupts itself (:class:`~codesign.net.queueing.Napi`):
the vector fires for a frame when its poll is idle and the throttle allows, is masked while
the poll runs, and is re-armed when the poll has taken every frame. Here the same decisions
come out of the NIC model (``hwmodels.nic``) when a driver masks the vector at each
interrupt and re-arms it (unmask with acknowledge) when the poll ends -- the times the
simulation logged -- so the two agree interrupt by interrupt, cycle for cycle.

Times are chosen so that the driver's operations never need the cycle of a frame: frames
in cycles 0 mod 8 (each visible to the interrupt unit from the next cycle), a poll of 8 or 16
cycles per frame and a throttle of a multiple of 8 put every interrupt in a cycle 1 mod 8
(the mask goes there) and every re-arm in one 1 mod 8 (the unmask goes two cycles before:
no frame completes in between).
"""

from __future__ import annotations

import numpy as np
import pytest

from codesign.net.graph import DataPath, Resource, Stage
from codesign.net.queueing import Napi, simulate
from hwmodels.nic import NICModel, NICOp, NICParams, OpBatch

MAC = 0x0200_0000_0001
CYCLE_NS = 4.0  # 250 MHz


def kernel(frames: np.ndarray, itr: int, threshold: int = 0, service: int = 8):
    """The simulation's interrupts and re-arms (NIC cycles) for frames at ``frames``, each
    polled in ``service`` cycles (a multiple of 8)."""
    nic_clock = Resource("cpu", "core", 250e6, domain="host")
    path = DataPath((Stage("poll", nic_clock, service),), hold_before="poll")
    arrival = (frames + 1) * CYCLE_NS
    r = simulate([path], arrival, np.full(len(frames), 64),
                 napi={"poll": Napi(itr * CYCLE_NS, threshold)})
    assert r.log_ns is not None and r.log_kind is not None
    cyc = np.rint(r.log_ns / CYCLE_NS).astype(np.int64)
    assert np.allclose(cyc * CYCLE_NS, r.log_ns)
    return cyc[r.log_kind == 0], cyc[r.log_kind == 1], r


def nic(frames: np.ndarray, irqs: np.ndarray, rearms: np.ndarray, itr: int,
        threshold: int = 0) -> list[int]:
    """The NIC model's interrupts with the driver's mask and re-arm at the given cycles."""
    p = NICParams(queues=2, filters=2, ring_size=1024, vlans=2, itr_us=itr / 250,
                  irq_threshold=threshold, iotlb_entries=8, iotlb_ways=2, iova_bits=16,
                  pa_bits=32)
    model = NICModel(p)
    model.configure([NICOp.vlan_enable(0), NICOp.map(0, 0, pfn=9)])
    model.post(0, [0] * (len(frames) + 1))
    base = model.now + 8 - model.now % 8  # keep the residues mod 8
    ops = [NICOp.rx(MAC, at=base + int(c)) for c in frames]
    ops += [NICOp.irq_mask(0, True, at=base + int(k)) for k in irqs]
    ops += [NICOp.irq_mask(0, False, ack=True, at=base + int(r) - 2) for r in rearms]
    ops.sort(key=lambda o: o.cycle)
    cycles = [o.cycle for o in ops]
    assert len(set(cycles)) == len(cycles), "two driver operations in one cycle"
    res = model.run(OpBatch.from_ops(ops), until=cycles[-1] + 10 * itr)
    return [c - base for c, _ in res.irqs()]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("itr", [8, 40])
def test_napi_interrupts_are_the_nic_models_under_a_napi_driver(seed: int, itr: int) -> None:
    rng = np.random.default_rng(seed)
    # Bursts and quiet spells: gaps from back to back (busy polls) to long idle periods.
    gaps = rng.choice([1, 1, 1, 2, 3, 8, 20], size=300) * 8
    frames = np.cumsum(gaps) - gaps[0]
    irqs, rearms, r = kernel(frames, itr, service=16)
    assert r.drops == 0
    assert 0 < len(irqs) < len(frames)  # some frames join a running poll
    assert np.all(np.diff(irqs) >= itr)  # the throttle is a hard cap
    assert nic(frames, irqs, rearms, itr) == irqs.tolist()


def test_a_threshold_fires_before_the_interval() -> None:
    frames = np.arange(0, 8 * 40, 8)  # faster than the poll: it never idles after the first
    irqs, _, _ = kernel(frames, itr=400, service=16)
    assert len(irqs) == 1
    # Sparse frames, each polled before the next: the throttle holds every later one back,
    # unless the threshold (2 waiting) fires it first.
    sparse = np.arange(0, 8 * 6 * 20, 8 * 6)
    slow, _, _ = kernel(sparse, itr=400)
    fast, rearms, _ = kernel(sparse, itr=400, threshold=2)
    assert len(fast) > len(slow)
    assert nic(sparse, fast, rearms, itr=400, threshold=2) == fast.tolist()
