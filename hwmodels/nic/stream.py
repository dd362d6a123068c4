"""A realistic multi-VM receive stream: tenants, their drivers and a hypervisor, as NIC operations.

Tenants are the VFs (one VM each, owning its pool) under SR-IOV, or with ``vfs = 0`` up to 8
VMDq queue sets carved out of the PF's pool. Each tenant has a MAC, a VLAN, 16 flows and
its own buffers: I/O pages mapped read/write to frames of its own (``FRAMES_PER_DOMAIN``
frames from ``domain * FRAMES_PER_DOMAIN``), two 2 KiB buffers per page as ``ixgbe`` uses them.

Frames arrive back to back at ``load`` times line rate (``link_gbps``), sized by the simple
IMIX (64/594/1518 B at 7:4:1, ANCHORS), each cycle count rounded down (at least 1). Mostly to a
tenant (uniformly), 2% to an unknown MAC (PF default queue), 1% on a VLAN nobody enabled.
One transmit slot follows every fourth frame.

Drivers are closed loop: the stream is built in chunks of ``chunk`` frames; after each the
drivers read their receive heads (from a ``NICModel`` replaying the stream: the model only
*reads* as a driver would) and repost every consumed descriptor, one doorbell per queue, and
post up to 4 transmit descriptors per queue. Every 8th chunk the hypervisor unmaps and remaps a
page of one tenant (strict IOMMU unmap: page-table write plus IOTLB invalidation). Replaying the
returned batch on any fresh NIC of the same parameters reproduces the run.
"""

from __future__ import annotations

import numpy as np

from hwmodels.nic.model import NICModel
from hwmodels.nic.ops import OP_FIELDS, NICOp, Op, OpBatch, Perm, Ring
from hwmodels.nic.params import NICParams

FRAMES_PER_DOMAIN = 1 << 12
IMIX = ((64, 7), (594, 4), (1518, 1))


def tenants(p: NICParams) -> list[tuple[int, int, int, int, int]]:
    """``(function, first queue, hash bits, mac, vlan)`` of every tenant.

    >>> f, q, k, mac, vlan = tenants(NICParams(queues=8, vfs=3, vlans=4))[0]
    >>> f, q, k, hex(mac), vlan
    (1, 2, 1, '0x20000000101', 1)
    """
    qpf = p.queues_per_function
    if p.vfs:
        sets = [(f, f * qpf, qpf.bit_length() - 1) for f in range(1, p.functions)]
    else:
        n = min(8, p.queues)
        per = p.queues // n
        sets = [(0, t * per, per.bit_length() - 1) for t in range(n)]
    sets = sets[: p.filters]
    return [(f, q, k, 0x0200_0000_0000 | (t + 1) << 8 | f, (t + 1) % p.vlans)
            for t, (f, q, k) in enumerate(sets)]


def _buffer(p: NICParams, k: int) -> int:
    pages = min(1 << p.page_bits, 256)
    return ((k >> 1) % pages) << 12 | (k & 1) << 11


def setup(p: NICParams) -> list[NICOp]:
    """Bring-up: VLANs, each tenant's filter, every domain's buffer pages, full receive rings.

    >>> len(setup(NICParams(queues=2, ring_size=4, vlans=2, iova_bits=16, iotlb_entries=8)))
    28
    """
    ts = tenants(p)
    pages = min(1 << p.page_bits, 256)
    ops = [NICOp.vlan_enable(v) for v in sorted({t[4] for t in ts} | {0})]
    ops += [NICOp.filter(i, mac, vlan, q, k) for i, (_, q, k, mac, vlan) in enumerate(ts)]
    for d in range(p.functions):
        ops += [NICOp.map(d, pg << 12, d * FRAMES_PER_DOMAIN + pg, Perm.R | Perm.W)
                for pg in range(pages)]
    qpf = p.queues_per_function
    for q in range(qpf * p.functions):
        ops += [NICOp.desc(q, s, _buffer(p, q + s), fn=q // qpf) for s in range(p.ring_size - 1)]
        ops.append(NICOp.doorbell(q, p.ring_size - 1, fn=q // qpf))
    return ops


def multi_vm_stream(p: NICParams, frames: int, seed: int = 1, load: float = 1.0,
                    chunk: int = 256) -> OpBatch:
    """Setup plus ``frames`` received frames with their drivers' refills (see module doc).

    >>> p = NICParams(queues=8, vfs=3, ring_size=8, vlans=4, iova_bits=16, iotlb_entries=8)
    >>> ops = multi_vm_stream(p, 300, seed=2)
    >>> int((ops.op == Op.RX).sum())
    300
    """
    rng = np.random.default_rng(seed)
    ts = tenants(p)
    qpf = p.queues_per_function
    nq = qpf * p.functions
    sizes = np.array([s for s, w in IMIX for _ in range(w)])
    model = NICModel(p)
    head = OpBatch.from_ops(setup(p))
    model.run(head, check=False)
    batches = [head]
    rx_tail = {q: p.ring_size - 1 for q in range(nq)}
    tx_tail = dict.fromkeys(range(nq), 0)
    t = model.now
    done, n_chunk = 0, 0
    while done < frames:
        n = min(chunk, frames - done)
        wire = np.array([p.wire_cycles(int(s)) for s in sizes])
        gaps = np.maximum(1, (rng.choice(wire, n) / load).astype(np.int64))
        who = rng.integers(0, len(ts), n)
        fn_, _, _, macs, vlans = (np.array(c) for c in zip(*ts, strict=True))
        mac = macs[who]
        vlan = vlans[who]
        odd = rng.random(n)
        mac = np.where(odd < 0.02, 0x0200_0000_FFFF, mac)
        # A VLAN nobody enabled: past a small table, else its last entry (tenants use the first).
        stray = p.vlans if p.vlans < 4096 else 4095
        vlan = np.where((odd >= 0.02) & (odd < 0.03), stray, vlan)
        flow = (who.astype(np.uint64) << np.uint64(40)) | rng.integers(0, 16, n).astype(np.uint64)
        cols = {name: np.zeros(n, dtype=np.int64) for name in OP_FIELDS}
        cols["cycle"] = t + np.cumsum(gaps)
        cols["op"][:] = Op.RX
        cols["mac"], cols["vlan"] = mac, vlan
        cols["flow"] = flow
        frames_b = OpBatch(cols)
        # A transmit slot one cycle after every fourth frame (frames are >= 16 cycles apart
        # at line rate; under overload the slot is skipped if it would collide).
        txc = frames_b.cycle[3::4] + 1
        nxt = np.append(frames_b.cycle[1:], np.iinfo(np.int64).max)[3::4]
        txc = txc[txc < nxt]
        tx_b = OpBatch.from_ops([NICOp.tx(at=int(c)) for c in txc])
        merged = _merge(frames_b, tx_b)
        model.run(merged, check=False)
        batches.append(merged)
        t = int(merged.cycle[-1]) + 1
        drv: list[NICOp] = []
        for q in range(nq):
            f = q // qpf
            free = p.ring_size - 1 - (rx_tail[q] - model.head[q, 0]) % p.ring_size
            for _ in range(free):
                drv.append(NICOp.desc(q, rx_tail[q], _buffer(p, rx_tail[q] + q + n_chunk), fn=f))
                rx_tail[q] = (rx_tail[q] + 1) % p.ring_size
            if free:
                drv.append(NICOp.doorbell(q, rx_tail[q], fn=f))
            tx_free = p.ring_size - 1 - (tx_tail[q] - model.head[q, 1]) % p.ring_size
            k = min(tx_free, 4)
            for _ in range(k):
                drv.append(NICOp.desc(q, tx_tail[q], _buffer(p, q + tx_tail[q]), ring=Ring.TX,
                                      fn=f))
                tx_tail[q] = (tx_tail[q] + 1) % p.ring_size
            if k:
                drv.append(NICOp.doorbell(q, tx_tail[q], ring=Ring.TX, fn=f))
        n_chunk += 1
        if n_chunk % 8 == 0:
            d = int(fn_[rng.integers(0, len(ts))])
            pg = int(rng.integers(0, min(1 << p.page_bits, 256)))
            frame = d * FRAMES_PER_DOMAIN + pg
            drv += [NICOp.map(d, pg << 12, frame, present=False), NICOp.inv_page(d, pg << 12),
                    NICOp.map(d, pg << 12, frame, Perm.R | Perm.W)]
        if drv:
            b = OpBatch.from_ops(drv, start=t)
            model.run(b, check=False)
            batches.append(b)
            t = int(b.cycle[-1]) + 1
        done += n
    return OpBatch({name: np.concatenate([b.cols[name] for b in batches]) for name in OP_FIELDS})


def _merge(a: OpBatch, b: OpBatch) -> OpBatch:
    cols = {n: np.concatenate([a.cols[n], b.cols[n]]) for n in OP_FIELDS}
    order = np.argsort(cols["cycle"], kind="stable")
    return OpBatch({n: c[order] for n, c in cols.items()})
