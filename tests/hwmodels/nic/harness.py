"""Roles of the NIC differential tests, named as in cocotb.

- **driver**: ``setup_ops`` (a PF/hypervisor bring-up), ``op_strategy`` (hypothesis),
  ``random_ops`` and ``multi_vm_stream`` (numpy RNG) turn a source of stimulus into an
  ``OpBatch`` of cycle-stamped operations; ``sub_block_stimulus`` maps one onto a sub-block's
  ports;
- **reference**: ``NICModel``, the golden model;
- **monitor**: ``NICSim.run`` (or Icarus) recording the design's per-cycle outputs;
- **scoreboard**: ``assert_same``, comparing per-operation events and the interrupt list.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from hypothesis import strategies as st

from hwmodels.nic import (
    NICOp,
    NICParams,
    NICResult,
    Op,
    OpBatch,
    Perm,
    Ring,
    Status,
    count_events,
)
from hwmodels.nic.ops import EVENT_FIELDS, OP_FIELDS
from hwmodels.nic.params import clog2
from hwmodels.tlb.ops import Op as TLBOp

# Small designs keep RTL simulation cheap. Together: PF only and SR-IOV (non-power-of-two
# function count), every IOTLB policy, hash spreading, throttling, thresholds and none (a hard
# throttle).
CONFIGS: dict[str, NICParams] = {
    "pf": NICParams(queues=4, filters=3, ring_size=4, vlans=8, itr_us=0.024, irq_threshold=3,
                    iotlb_entries=4, iotlb_ways=2, iova_bits=15, pa_bits=32),
    "sriov": NICParams(queues=8, filters=4, ring_size=4, vlans=4, itr_us=0.032,
                       irq_threshold=2, vfs=2, iotlb_entries=4, iotlb_ways=4,
                       iotlb_policy="plru", iova_bits=15, pa_bits=32),
    "random3": NICParams(queues=4, filters=2, ring_size=8, vlans=2, itr_us=0.012,
                         irq_threshold=0, vfs=1, iotlb_entries=6, iotlb_ways=3,
                         iotlb_policy="random", iova_bits=15, pa_bits=32),
}

FRAMES_PER_FUNCTION = 64


def mac_of(f: int) -> int:
    """The MAC address of function ``f`` (locally administered)."""
    return 0x0200_0000_0000 | (0xF0 + f)


def vlan_of(f: int) -> int:
    """The VLAN of function ``f``."""
    return f % 2


def owner_of_frame(pfn: int) -> int:
    """Which function's memory a physical frame is (as ``setup_ops`` maps it)."""
    return pfn // FRAMES_PER_FUNCTION


def frame_of(f: int, page: int) -> int:
    """The frame backing page ``page`` of function ``f``'s I/O space."""
    return f * FRAMES_PER_FUNCTION + page


def setup_ops(p: NICParams, descriptors: int | None = None) -> list[NICOp]:
    """Bring-up: VLANs 0 and 1, half of each domain's pages mapped (RW) to its own frames,
    one filter per function spreading over its pool, receive rings filled, a few transmits."""
    qpf = p.queues_per_function
    pages = 1 << p.page_bits
    ops = [NICOp.vlan_enable(v) for v in range(min(2, p.vlans))]
    for f in range(p.functions):
        for pg in range(pages // 2):
            ops.append(NICOp.map(f, pg << 12, frame_of(f, pg)))
        if f < p.filters:
            ops.append(NICOp.filter(f, mac_of(f), vlan_of(f), f * qpf, qpf.bit_length() - 1))
    n = p.ring_size - 1 if descriptors is None else descriptors
    for q in range(qpf * p.functions):
        f = q // qpf
        for r, count in ((Ring.RX, n), (Ring.TX, 2)):
            for s in range(count):
                ops.append(NICOp.desc(q, s, (((q + s) % (pages // 2)) << 12) | (s * 0x100),
                                      ring=r, fn=f))
            ops.append(NICOp.doorbell(q, count, ring=r, fn=f))
    return ops


def _st_fn(p: NICParams, owner: int) -> st.SearchStrategy[int]:
    # Mostly the rightful function; sometimes another one trying its luck.
    return st.sampled_from([owner] * 5 + list(range(p.functions)))


def op_strategy(p: NICParams) -> st.SearchStrategy[NICOp]:
    """Single operations (cycle ``NEXT``) over small pools that make rings and sets overflow."""
    qpf = p.queues_per_function
    pages = 1 << p.page_bits
    queue = st.integers(0, p.queues - 1)
    slot = st.integers(0, p.ring_size - 1)
    iova = st.builds(lambda pg, off: (pg << 12) | off, st.integers(0, pages - 1),
                     st.sampled_from([0, 0x80, 0xFFF]))
    fns = list(range(p.functions))
    macs = [mac_of(f) for f in fns] + [0x0200_0000_0BAD]
    vlans = [0, 1, 2, p.vlans - 1, p.vlans, 4095]
    flows = [0, 1, 0x420995BB_A18E6450, 0xFFFF_FFFF_FFFF_FFFF, 0x0A000001_0A000002]

    def by_queue(kind: int):
        return st.builds(
            lambda q, r, s, a, e, d: NICOp(-1, kind, fn=d(min(q // qpf, p.functions - 1)),
                                           queue=q, ring=r, slot=s,
                                           addr=a, enable=e),
            queue, st.integers(0, 1), slot, iova, st.integers(0, 1),
            st.sampled_from([lambda o: o] * 5 + [lambda o, g=g: g for g in fns]),
        )

    rx = st.builds(NICOp.rx, st.sampled_from(macs), st.sampled_from(vlans),
                   st.sampled_from(flows))
    pf = st.sampled_from([0] * 6 + fns)
    config = st.one_of(
        st.builds(lambda i, m, v, q, k, e, f: NICOp.filter(i, m, v, q, k, valid=bool(e), fn=f),
                  st.integers(0, p.filters - 1), st.sampled_from(macs), st.sampled_from(vlans),
                  queue, st.integers(0, 3), st.integers(0, 1), pf),
        st.builds(lambda v, e, f: NICOp.vlan_enable(v, bool(e), fn=f),
                  st.sampled_from(vlans[:5]).map(lambda v: min(v, 4095)), st.integers(0, 1), pf),
        st.builds(lambda q, f: NICOp.default_queue(q, fn=f), queue, pf),
        st.builds(lambda d, a, pfn, perms, e, f: NICOp.map(d, a, pfn, perms, present=bool(e),
                                                           fn=f),
                  st.sampled_from(fns), iova, st.integers(0, 255), st.integers(0, 3),
                  st.integers(0, 1), pf),
        st.builds(lambda d, a, f: NICOp.inv_page(d, a, fn=f), st.sampled_from(fns), iova, pf),
        st.builds(lambda d, f: NICOp.inv_domain(d, fn=f), st.sampled_from(fns), pf),
    )
    return st.one_of(
        rx, rx, rx, st.just(NICOp.tx()), st.just(NICOp.tx()),
        by_queue(Op.DESC), by_queue(Op.DOORBELL), by_queue(Op.IRQ_MASK), config,
    )


def gaps_strategy(n: int) -> st.SearchStrategy[list[int]]:
    """Cycle gaps: mostly back to back, sometimes long enough for throttle timers to expire."""
    return st.lists(st.sampled_from([1, 1, 1, 2, 3, 7, 20]), min_size=n, max_size=n)


def with_gaps(ops: list[NICOp], gaps: list[int], start: int = 0) -> OpBatch:
    """Stamp ``ops`` with cycles: ``start`` plus the running sum of ``gaps``."""
    cycles = start - 1 + np.cumsum(np.asarray(gaps, dtype=np.int64))
    return OpBatch.from_ops([op._replace(cycle=int(c)) for op, c in zip(ops, cycles,
                                                                        strict=True)])


def random_ops(p: NICParams, n: int, seed: int) -> OpBatch:
    """``n`` operations drawn with numpy: the hypothesis pools at a fixed seed, long runs."""
    rng = np.random.default_rng(seed)
    qpf = p.queues_per_function
    pages = 1 << p.page_bits
    cols = {name: np.zeros(n, dtype=np.int64) for name in OP_FIELDS}
    # Mostly traffic and ring refills; configuration changes are rare, as in a running system.
    kinds = np.array([Op.RX] * 24 + [Op.TX] * 8 + [Op.DESC] * 12 + [Op.DOORBELL] * 8
                     + [Op.IRQ_MASK, Op.FILTER, Op.VLAN, Op.DEFAULT_Q, Op.MAP, Op.MAP,
                        Op.INV_PAGE, Op.INV_DOMAIN, Op.NOP])
    op = rng.choice(kinds, n)
    cols["op"] = op
    cols["cycle"] = np.cumsum(rng.choice([1, 1, 1, 2, 3, 7, 20], n))
    q = rng.integers(0, p.queues, n)
    cols["queue"] = q
    own = np.minimum(q // qpf, p.functions - 1)
    liar = rng.random(n) < 0.15
    cols["fn"] = np.where(liar, rng.integers(0, p.functions, n),
                          np.where(op <= Op.IRQ_MASK, own, 0))
    cols["ring"] = rng.integers(0, 2, n)
    cols["slot"] = rng.integers(0, p.ring_size, n)
    cols["addr"] = (rng.integers(0, pages, n) << 12) | rng.choice([0, 0x80, 0xFFF], n)
    fmacs = np.array([mac_of(f) for f in range(p.functions)] + [0x0200_0000_0BAD])
    cols["mac"] = rng.choice(fmacs, n)
    cols["vlan"] = rng.choice([0, 0, 0, 1, 1, 1, 2, p.vlans - 1, p.vlans, 4095], n)
    # Enabling is likelier than disabling, mapping than unmapping, so traffic keeps flowing.
    cols["enable"] = (rng.random(n) < 0.7).astype(np.int64)
    cols["index"] = rng.integers(0, p.filters, n)
    cols["arg"] = rng.integers(0, 4, n)
    cols["pfn"] = rng.integers(0, 256, n)
    cols["arg"] = np.where(op == Op.MAP, rng.choice([0, 1, 2, 3, 3, 3], n), cols["arg"])
    cols["domain"] = rng.integers(0, p.functions, n)
    flows = np.array([0, 1, 0x420995BB_A18E6450, 0xFFFF_FFFF_FFFF_FFFF, 0x0A000001_0A000002],
                     dtype=np.uint64)
    cols["flow"] = rng.choice(flows, n)
    return OpBatch(cols)


def concat_batches(*batches: OpBatch) -> OpBatch:
    """Join batches, shifting each after the previous one's last cycle."""
    out, t = [], 0
    for b in batches:
        if not len(b):
            continue
        cols = dict(b.cols)
        cols["cycle"] = cols["cycle"] - int(cols["cycle"][0]) + t
        t = int(cols["cycle"][-1]) + 1
        out.append(cols)
    return OpBatch({n: np.concatenate([c[n] for c in out]) for n in OP_FIELDS})


def assert_same(ops: OpBatch, ref: NICResult, dut: NICResult, label: str) -> None:
    """Scoreboard: events operation by operation, then the interrupt list, then counters."""
    i = ref.first_difference(dut)
    if i is not None:
        lo = max(0, i - 3)
        ctx = "\n".join(f"  {k}: {ops.row(k)}\n     ref {ref.row(k)}\n     dut {dut.row(k)}"
                        for k in range(lo, min(i + 1, len(ops))))
        raise AssertionError(f"{label}: events differ at operation {i}:\n{ctx}")
    if ref.irqs() != dut.irqs():
        ra, da = ref.irqs(), dut.irqs()
        k = next((k for k, (a, b) in enumerate(zip(ra, da, strict=False)) if a != b),
                 min(len(ra), len(da)))
        raise AssertionError(f"{label}: interrupts differ at #{k}: ref {ra[k:k + 3]} "
                             f"dut {da[k:k + 3]}")
    assert count_events(ops, ref) == count_events(ops, dut)


__all__ = ["CONFIGS", "EVENT_FIELDS", "Perm"]


def sub_block_stimulus(name: str, p: NICParams, ports: Iterable[str], ops: OpBatch,
                       ref: NICResult, end: int) -> list[dict[str, int]]:
    """Driver of a NIC sub-block: one input dict per cycle (0 .. ``end - 1``), each cycle's
    NIC operation seen from the sub-block's ports, with what the rest of the NIC would give it
    taken from the reference's events ``ref`` (the classifier's queue, the consumed slot, the
    IOTLB hit) and from the stimulus itself (descriptors and page-table entries written so far:
    the buffer address a consumed descriptor holds, a walk's answer).

    ``ports`` are the block's inputs (0 unless the operation drives them). ``ops`` must start
    from the power-on state with its RAM cleared (``NICSim.clear_ops``)."""
    qpf_bits = clog2(p.queues_per_function)
    ports = list(ports)
    rows = [dict.fromkeys(ports, 0) for _ in range(end)]
    desc: dict[tuple[int, int, int], int] = {}
    table: dict[tuple[int, int], int] = {}  # (domain, page) -> pfn << 3 | perms << 1 | present
    st = ref.events["status"]
    for i, c in enumerate(ops.cycle.tolist()):
        op = ops.row(i)
        ev = ref.row(i)
        row = rows[c]
        moved = ev.status in (Status.OK, Status.FAULT)  # a descriptor was consumed
        ring = int(op.op == Op.TX)
        iova = desc.get((ev.queue, ring, ev.slot), 0) if moved else 0
        dom, page = ev.queue >> qpf_bits, iova >> 12
        entry = table.get((dom, page), 0)
        walk = {"walk_present": entry & 1, "walk_perms": (entry >> 1) & 3,
                "walk_pfn": entry >> 3}
        fields = {f: getattr(op, f) for f in OP_FIELDS if f != "cycle"}
        if name == "nic-classifier":
            row.update({f: fields[f] for f in ("op", "fn", "queue", "mac", "vlan", "flow",
                                               "index", "enable", "arg")})
        elif name == "nic-rings":
            row.update({f: fields[f] for f in ("op", "fn", "queue", "ring", "slot", "addr")})
            row.update(rx_ok=int(op.op == Op.RX and st[i] != Status.DROP_VLAN),
                       rx_queue=ev.queue if op.op == Op.RX else 0)
        elif name == "nic-dma":
            row.update({f: fields[f] for f in ("op", "fn", "addr", "domain", "pfn", "arg",
                                               "enable")})
            row.update(dma_go=int(moved), dma_queue=ev.queue if moved else 0, dma_ring=ring,
                       dma_iova=iova, **walk)
        elif name == "nic-irq":
            row.update(done=int(ev.status == Status.OK and op.op in (Op.RX, Op.TX)),
                       queue=ev.queue, mask_write=int(op.op == Op.IRQ_MASK
                                                      and ev.status != Status.DENIED),
                       mask_queue=op.queue, mask_value=op.enable, mask_ack=op.arg & 1)
        elif name == "nic-iotlb":
            if moved:
                tlb_op = TLBOp.LOOKUP if ev.iotlb_hit else (TLBOp.FILL if entry & 1 else 0)
                row.update(op=tlb_op, iova=iova, domain=dom)
            elif op.op in (Op.INV_PAGE, Op.INV_DOMAIN) and op.fn == 0:
                row.update(op=TLBOp.INV_ADDR if op.op == Op.INV_PAGE else TLBOp.INV_VM,
                           iova=op.addr, domain=op.domain)
            row.update(walk_perms=walk["walk_perms"], walk_pfn=walk["walk_pfn"])
        else:
            raise KeyError(name)
        # What this operation leaves for later ones (accepted writes only).
        if op.op == Op.DESC and ev.status != Status.DENIED:
            desc[(op.queue, op.ring, op.slot)] = op.addr
        if op.op == Op.MAP and op.fn == 0:
            table[(op.domain, op.addr >> 12)] = op.pfn << 3 | (op.arg & 3) << 1 | op.enable
    return [{k: r[k] for k in ports} for r in rows]
