"""PyRTL NIC: the semantics of ``hwmodels.nic.model``, one operation per clock cycle.

Structure (name scopes): ``classifier`` (VLAN table as a 1-bit RAM, filters as registers
compared in parallel like a CAM, Toeplitz hash as an AND-XOR network over the constant key
windows, keeping only the queue-index bits), ``rings`` (head/tail registers per queue and ring;
descriptors in one RAM addressed ``queue, ring, slot``; a round-robin transmit arbiter),
``dma`` (the IOTLB is the TLB array of ``hwmodels.tlb.rtl``, its VM tag carrying the domain,
driven LOOKUP on a hit and FILL on a present miss in the same cycle; permission check and
physical address), ``irq`` (per vector a saturating completion count, a throttle down-counter
and a mask bit; a lowest-index arbiter raises at most one interrupt per cycle).

The IOMMU's I/O page tables live in host memory, outside the NIC. ``build_nic(page_table=True)``
adds a RAM standing in for them (written by ``MAP``) so that simulations are self-contained;
with ``page_table=False`` (Verilog and cost) the walk leaves the block: outputs ``walk_req``,
``walk_domain``, ``walk_page``, inputs ``walk_present``, ``walk_perms``, ``walk_pfn`` answered in
the same cycle. A walk's memory references are reported (``ev_walk_refs``), not timed.

Timing. An operation's events are outputs of its cycle (combinational view of the registered
state); state changes land on the clock edge. Input ``reset`` (synchronous) restores every
register's power-on value; RAM contents (VLAN table, descriptors, page tables) survive a reset
as SRAM does, so ``NICSim.reset`` also rewrites them with zeros through ordinary operations.

Exported Verilog has the stable top module name ``codesign_nic``.

Sub-blocks (``SUB_BLOCKS``: ``nic-classifier``, ``nic-rings``, ``nic-dma``, ``nic-irq``,
``nic-iotlb``) are built by the very functions ``build_nic`` instantiates (``_classifier``,
``_rings``, ``_dma``, ``_interrupts``, the TLB array), each alone in its own block with the
signals of its neighbours as ports: so their Verilog and costs are those of the NIC's parts
(classifier, rings, DMA engine and interrupt unit hold every NIC register once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyrtl
from pyrtl import Const, Input, MemBlock, Output, Register, WireVector, concat, mux, select

from hwmodels import rtl
from hwmodels.nic.model import TOEPLITZ_WINDOWS, iotlb_params
from hwmodels.nic.ops import (
    EVENT_DTYPES,
    EVENT_FIELDS,
    NICFrontend,
    NICOp,
    NICResult,
    Op,
    OpBatch,
    Status,
)
from hwmodels.nic.params import NICParams, clog2
from hwmodels.tlb.ops import Op as TLBOpCode
from hwmodels.tlb.rtl import TLBPorts, build_array, drive, lowest_set, pick

MODULE_NAME = "codesign_nic"

EVENT_PORTS: dict[str, str] = {f: f"ev_{f}" for f in EVENT_FIELDS}
IRQ_PORTS: tuple[str, str] = ("irq_fire", "irq_vector")


def input_widths(p: NICParams) -> dict[str, int]:
    """Input ports of the NIC (``NICOp`` fields but ``cycle``, plus ``reset``) and widths.

    >>> input_widths(NICParams(queues=8, ring_size=4))["slot"]
    2
    """
    return {
        "reset": 1, "op": 4, "fn": p.fn_bits, "queue": p.queue_bits, "ring": 1,
        "slot": p.slot_bits, "addr": p.iova_bits, "mac": 48, "vlan": 12, "flow": 64,
        "index": p.filter_bits, "enable": 1, "arg": 4, "pfn": p.pfn_bits, "domain": p.fn_bits,
    }


def _reg(width: int, name: str, reset: WireVector, value: int = 0) -> Register:
    r = Register(width, name, reset_value=value)
    r.reset_wire = reset  # type: ignore[attr-defined]
    return r


def _set(r: Register, value: WireVector) -> None:
    drive(r, value, r.reset_wire)  # type: ignore[attr-defined]


def _hold_or(r: Register, enable: WireVector, value: WireVector) -> None:
    _set(r, select(enable, value, r))


def _field(w: WireVector, lo: int) -> WireVector:
    """``w >> lo`` as a wire (a 1-bit 0 when nothing is left)."""
    return w[lo:] if lo < len(w) else Const(0, 1)


@dataclass
class _Io:
    reset: WireVector
    op: WireVector
    fn: WireVector
    queue: WireVector
    ring: WireVector
    slot: WireVector
    addr: WireVector
    mac: WireVector
    vlan: WireVector
    flow: WireVector
    index: WireVector
    enable: WireVector
    arg: WireVector
    pfn: WireVector
    domain: WireVector

    def is_op(self, op: Op) -> WireVector:
        return self.op == int(op)


def _classifier(p: NICParams, io: _Io, pf: WireVector) -> tuple[WireVector, ...]:
    """(vlan ok, queue, filter-write refused, vlan-write refused, default-queue refused)."""
    qb = p.queue_bits
    qpf_bits = clog2(p.queues_per_function)
    vbits = clog2(p.vlans)
    vlan_in_range = Const(1, 1) if vbits == 12 else io.vlan[vbits:] == 0
    with pyrtl.name_scope("vlan"):
        table = MemBlock(1, vbits, name="vlan_table", asynchronous=True)
        vlan_ok = vlan_in_range & table[io.vlan[:vbits]]
        vlan_bad = ~vlan_in_range
        table[io.vlan[:vbits]] <<= MemBlock.EnabledWrite(
            io.enable, io.is_op(Op.VLAN) & pf & vlan_in_range
        )

    with pyrtl.name_scope("filters"):
        # Spread mask of k hash bits; k above the pool size is refused, so clip the table.
        masks = [Const(min((1 << k) - 1, (1 << qb) - 1), qb) for k in range(16)]
        k_mask = mux(io.arg, *masks)
        k_ok = io.arg <= qpf_bits
        pool_ok = _field(io.queue, qpf_bits) < p.functions
        aligned = (io.queue & k_mask) == 0
        filter_bad = ~(k_ok & pool_ok & aligned)
        write = io.is_op(Op.FILTER) & pf & ~filter_bad
        hits = []
        bases, smasks = [], []
        for f in range(p.filters):
            valid = _reg(1, f"f{f}_valid", io.reset)
            mac = _reg(48, f"f{f}_mac", io.reset)
            vlan = _reg(12, f"f{f}_vlan", io.reset)
            base = _reg(qb, f"f{f}_base", io.reset)
            smask = _reg(qb, f"f{f}_mask", io.reset)
            we = write & (io.index == f)
            for r, v in ((valid, io.enable), (mac, io.mac), (vlan, io.vlan), (base, io.queue),
                         (smask, k_mask)):
                _hold_or(r, we, v)
            hits.append(valid & (mac == io.mac) & (vlan == io.vlan))
            bases.append(base)
            smasks.append(smask)
        matched, which = lowest_set(hits)

    with pyrtl.name_scope("hash"):
        # Toeplitz, low queue bits only: bit j of the hash is the XOR over set input bits of
        # bit j of their key window.
        bits = []
        for j in range(qb):
            terms = [io.flow[63 - i] for i in range(64) if (int(TOEPLITZ_WINDOWS[i]) >> j) & 1]
            bits.append(pyrtl.rtl_any(*terms) if len(terms) == 1 else _xor_all(terms))
        hash_low = concat(*reversed(bits)) if len(bits) > 1 else bits[0]

    with pyrtl.name_scope("default"):
        defq = _reg(qb, "default_queue", io.reset)
        defq_bad = _field(io.queue, qpf_bits) != 0
        _hold_or(defq, io.is_op(Op.DEFAULT_Q) & pf & ~defq_bad, io.queue)

    base_sel = pick(which, bases)
    mask_sel = pick(which, smasks)
    queue = select(matched, base_sel | (hash_low & mask_sel), defq)
    return vlan_ok, queue, filter_bad, vlan_bad, defq_bad


def _interrupts(p: NICParams, reset: WireVector, done: WireVector, queue: WireVector,
                mask_write: WireVector, mask_queue: WireVector, mask_value: WireVector,
                mask_ack: WireVector) -> tuple[WireVector, WireVector]:
    """(an interrupt is raised, its vector): ``done`` completes ``queue``'s vector; an unmask
    with ``mask_ack`` also clears the vector's count (NAPI's re-arm)."""
    thr = p.irq_threshold
    cap = max(thr, 1)
    itr = max(p.itr_cycles, 1)
    eligible, state = [], []
    for q in range(p.queues):
        pend = _reg(p.pend_bits, f"v{q}_pending", reset)
        timer = _reg(p.timer_bits, f"v{q}_timer", reset)
        masked = _reg(1, f"v{q}_mask", reset)
        # Threshold 0: no early interrupt, the throttle is a hard cap (e1000e / ixgbe ITR).
        ready = (timer == 0) | (pend >= thr) if thr else timer == 0
        eligible.append(~masked & (pend != 0) & ready)
        state.append((pend, timer, masked))
    fire, vec = lowest_set(eligible)
    acked = mask_write & ~mask_value & mask_ack
    for q, (pend, timer, masked) in enumerate(state):
        fired = fire & (vec == q)
        base = select(fired | (acked & (mask_queue == q)), Const(0, p.pend_bits), pend)
        comp = done & (queue == q) & (base < cap)
        _set(pend, select(comp, (base + 1)[: p.pend_bits], base))
        _set(timer, select(fired, Const(itr - 1, p.timer_bits),
                           select(timer != 0, (timer - 1)[: p.timer_bits], timer)))
        _hold_or(masked, mask_write & (mask_queue == q), mask_value)
    return fire, vec[: p.queue_bits] if len(vec) > p.queue_bits else vec


@dataclass
class _RingsOut:
    go: WireVector  # a descriptor is consumed: a frame with a free one, or a transmit slot
    tx_go: WireVector
    queue: WireVector  # the queue served (the frame's, or the transmit arbiter's choice)
    ring: WireVector  # 1 when transmitting
    slot: WireVector  # the head slot read
    iova: WireVector  # the descriptor's buffer address
    rx_queue: WireVector  # the frame's queue (queue-number bits of the classifier's)
    rx_empty: WireVector  # the frame's receive ring is empty
    tx_queue: WireVector
    owner_ok: WireVector  # the op's function owns the op's queue
    denied: WireVector  # a DESC / DOORBELL / IRQ_MASK refused: not the owner


def _rings(p: NICParams, io: _Io, is_rx: WireVector, is_tx: WireVector, rx_ok: WireVector,
           rx_queue: WireVector) -> _RingsOut:
    """Descriptor rings: head/tail registers per queue and ring, the descriptor RAM, the
    transmit arbiter. ``rx_ok``/``rx_queue``: the classifier accepted a frame for that queue."""
    qb, sb = p.queue_bits, p.slot_bits
    qpf_bits = clog2(p.queues_per_function)
    nq = p.queues
    head = [[_reg(sb, f"q{q}_{r}_head", io.reset) for r in "rt"] for q in range(nq)]
    tail = [[_reg(sb, f"q{q}_{r}_tail", io.reset) for r in "rt"] for q in range(nq)]
    rr = _reg(qb, "tx_last", io.reset, nq - 1)
    ne = [head[q][1] != tail[q][1] for q in range(nq)]
    later = [ne[q] & (rr < q) for q in range(nq)]
    any_later, first_later = lowest_set(later)
    any_tx, first_tx = lowest_set(ne)
    tx_queue = select(any_later, first_later, first_tx)[:qb]
    rx_q = rx_queue[:qb]
    rx_empty = pick(rx_q if nq > 1 else None, [h[0] == t[0] for h, t in
                                               zip(head, tail, strict=True)])
    rx_go = is_rx & rx_ok & ~rx_empty
    tx_go = is_tx & any_tx
    go = rx_go | tx_go
    q_sel = select(is_tx, tx_queue, rx_q)
    ring = is_tx
    head_sel = pick(q_sel if nq > 1 else None, [select(ring, h[1], h[0]) for h in head])
    descs = MemBlock(p.iova_bits, qb + 1 + sb, name="descriptors", asynchronous=True)
    iova = descs[concat(q_sel, ring, head_sel)]
    owner_ok = _field(io.queue, qpf_bits) == io.fn
    ring_op = io.is_op(Op.DESC) | io.is_op(Op.DOORBELL) | io.is_op(Op.IRQ_MASK)
    descs[concat(io.queue, io.ring, io.slot)] <<= MemBlock.EnabledWrite(
        io.addr, io.is_op(Op.DESC) & owner_ok
    )
    bell = io.is_op(Op.DOORBELL) & owner_ok
    for q in range(nq):
        for r in range(2):
            consumed = go & (q_sel == q) & (ring == r)
            _hold_or(head[q][r], consumed, (head[q][r] + 1)[:sb])
            _hold_or(tail[q][r], bell & (io.queue == q) & (io.ring == r), io.slot)
    _hold_or(rr, tx_go, tx_queue)
    return _RingsOut(go, tx_go, q_sel, ring, head_sel, iova, rx_q, rx_empty, tx_queue,
                     owner_ok, ring_op & ~owner_ok)


@dataclass
class _DmaOut:
    hit: WireVector  # the IOTLB holds the page
    allowed: WireVector  # present, with the permission the direction needs
    addr: WireVector  # physical address (frame and page offset)
    walk: dict[str, WireVector]  # page-walk request ports (page tables outside the block)


def _dma(p: NICParams, io: _Io, pf: WireVector, go: WireVector, queue: WireVector,
         ring: WireVector, iova: WireVector,
         walk_in: tuple[WireVector, WireVector, WireVector] | None) -> _DmaOut:
    """DMA address generation: translate ``iova`` (when ``go``) in the domain owning ``queue``
    through the IOTLB, a walk on a miss, the permission check (W to receive, R to transmit,
    ``ring``); the PF's MAP / INV_PAGE / INV_DOMAIN. ``walk_in`` None: the page tables are a
    RAM here (written by MAP), else the walk's answer (present, perms, pfn) comes in."""
    qpf_bits = clog2(p.queues_per_function)
    dom = _field(queue, qpf_bits)
    tp = iotlb_params(p)
    tag_bits = tp.vpid_bits
    inv_page = io.is_op(Op.INV_PAGE) & pf
    inv_dom = io.is_op(Op.INV_DOMAIN) & pf
    page = iova[12:]
    walk: dict[str, WireVector] = {}
    if walk_in is None:
        pool_bits = clog2(p.pools)
        pt = MemBlock(3 + p.pfn_bits, pool_bits + p.page_bits, name="io_page_table",
                      asynchronous=True)

        def pt_addr(d: WireVector, pg: WireVector) -> WireVector:
            return concat(d[:pool_bits], pg) if pool_bits else pg

        entry = pt[pt_addr(dom.zero_extended(max(pool_bits, 1)), page)]
        pt[pt_addr(io.domain.zero_extended(max(pool_bits, 1)), io.addr[12:])] <<= (
            MemBlock.EnabledWrite(concat(io.pfn, io.arg[:2], io.enable),
                                  io.is_op(Op.MAP) & pf))
        w_present, w_perms, w_pfn = entry[0], entry[1:3], entry[3:]
    else:
        w_present, w_perms, w_pfn = walk_in
    # The array's match does not depend on its op, so the op may depend on the hit.
    tlb_op = WireVector(3, "iotlb_op")
    ports = TLBPorts(
        reset=io.reset,
        op=tlb_op,
        va=select(go, iova, io.addr),
        vpid=(select(go, dom, io.domain)[:tag_bits] if tag_bits else None),
        pcid=None,
        size=Const(0, 2),
        pfn=w_pfn,
        perms=w_perms.zero_extended(4),
        glob=Const(0, 1),
    )
    with pyrtl.name_scope("iotlb"):
        arr = build_array(0, tp.l4k, tp, ports, Const(0, 1))
    hit = arr.hit
    tlb_op <<= select(
        go,
        select(hit, Const(TLBOpCode.LOOKUP, 3),
               select(w_present, Const(TLBOpCode.FILL, 3), Const(TLBOpCode.NOP, 3))),
        select(inv_page, Const(TLBOpCode.INV_ADDR, 3),
               select(inv_dom, Const(TLBOpCode.INV_VM, 3), Const(TLBOpCode.NOP, 3))),
    )
    if walk_in is not None:
        walk = {"walk_req": go & ~hit, "walk_domain": dom.zero_extended(p.fn_bits),
                "walk_page": page}
    perms = select(hit, arr.perms[:2], w_perms)
    present = hit | w_present
    need = select(ring, Const(1, 2), Const(2, 2))
    allowed = present & ((perms & need) != 0)
    frame = select(hit, arr.pfn, w_pfn)
    return _DmaOut(hit, allowed, concat(frame, iova[:12]), walk)


def _xor_all(terms: Sequence[WireVector]) -> WireVector:
    level = list(terms) or [Const(0, 1)]
    while len(level) > 1:
        pairs = [a ^ b for a, b in zip(level[::2], level[1::2], strict=False)]
        level = pairs + level[len(pairs) * 2:]
    return level[0]


@dataclass(frozen=True)
class NICDesign:
    """A built NIC block and its port widths."""

    params: NICParams
    block: pyrtl.Block
    inputs: dict[str, int]
    outputs: dict[str, int]
    page_table: bool


def build_nic(params: NICParams, page_table: bool = True) -> NICDesign:
    """Build the NIC in its own PyRTL block (see the module docstring for ``page_table``).

    >>> d = build_nic(NICParams(queues=4, filters=2, ring_size=4, iova_bits=16,
    ...                         iotlb_entries=4, iotlb_ways=2, vlans=8))
    >>> d.outputs["ev_status"], d.outputs["irq_vector"], d.inputs["flow"]
    (3, 2, 64)
    """
    p = params
    qb, sb = p.queue_bits, p.slot_bits
    qpf_bits = clog2(p.queues_per_function)
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        io = _Io(**{n: Input(w, n) for n, w in input_widths(p).items()})
        pf = io.fn == 0
        walk_in = None if page_table else (
            Input(1, "walk_present"), Input(2, "walk_perms"), Input(p.pfn_bits, "walk_pfn"))
        ports_out: dict[str, WireVector] = {}
        with pyrtl.name_scope("nic"):
            with pyrtl.name_scope("classifier"):
                vlan_ok, rx_queue, filter_bad, vlan_bad, defq_bad = _classifier(p, io, pf)

            is_rx, is_tx = io.is_op(Op.RX), io.is_op(Op.TX)
            with pyrtl.name_scope("rings"):
                rings = _rings(p, io, is_rx, is_tx, vlan_ok, rx_queue)
            translate, q_sel = rings.go, rings.queue
            with pyrtl.name_scope("dma"):
                dma = _dma(p, io, pf, translate, q_sel, rings.ring, rings.iova, walk_in)
            hit, allowed, done = dma.hit, dma.allowed, translate & dma.allowed
            ports_out.update(dma.walk)

            with pyrtl.name_scope("irq"):
                fire, vec = _interrupts(p, io.reset, done, q_sel,
                                        io.is_op(Op.IRQ_MASK) & rings.owner_ok, io.queue,
                                        io.enable, io.arg[0])

            config = io.op >= int(Op.FILTER)
            denied = (
                rings.denied
                | (config & ~pf)
                | (io.is_op(Op.FILTER) & filter_bad)
                | (io.is_op(Op.VLAN) & vlan_bad)
                | (io.is_op(Op.DEFAULT_Q) & defq_bad)
            )
            S = Status
            status = select(
                translate,
                select(allowed, Const(S.OK, 3), Const(S.FAULT, 3)),
                select(is_rx & ~vlan_ok, Const(S.DROP_VLAN, 3),
                       select(is_rx, Const(S.DROP_NO_DESC, 3),
                              select(denied, Const(S.DENIED, 3), Const(S.NONE, 3)))),
            )
            ev_queue = select(is_rx & vlan_ok, rings.rx_queue,
                              select(rings.tx_go, rings.tx_queue, Const(0, qb)))
            zero = Const(0)
            events = {
                "status": status,
                "queue": ev_queue,
                "fn": _field(ev_queue, qpf_bits).zero_extended(p.fn_bits),
                "slot": select(translate, rings.slot, zero),
                "iotlb_hit": translate & hit,
                "walk_refs": select(translate & ~hit, Const(p.iommu_levels, 3), zero),
                "dma_addr": select(done, dma.addr, zero),
            }
        widths = {"status": 3, "queue": qb, "fn": p.fn_bits, "slot": sb, "iotlb_hit": 1,
                  "walk_refs": 3, "dma_addr": p.pa_bits}
        for f, value in events.items():
            port = Output(widths[f], EVENT_PORTS[f])
            port <<= value
        o_fire = Output(1, IRQ_PORTS[0])
        o_fire <<= fire
        o_vec = Output(qb, IRQ_PORTS[1])
        o_vec <<= vec
        for name, value in ports_out.items():
            out = Output(len(value), name)
            out <<= value
        block.sanity_check()
    inputs = {w.name: w.bitwidth for w in block.wirevector_subset(Input)}
    outputs = {w.name: w.bitwidth for w in block.wirevector_subset(Output)}
    return NICDesign(params, block, inputs, outputs, page_table)


def stimulus(ops: OpBatch, start: int, end: int) -> list[dict[str, int]]:
    """One input dict per cycle from ``start`` to ``end`` (exclusive); idle cycles are NOPs.

    >>> s = stimulus(OpBatch.from_ops([NICOp.tx(at=2)]), 0, 4)
    >>> [row["op"] for row in s]
    [0, 0, 2, 0]
    """
    names = [n for n in ops.cols if n != "cycle"]
    idle = {"reset": 0, **dict.fromkeys(names, 0)}
    rows = [idle] * (end - start)
    cols = {n: ops.cols[n].tolist() for n in names}
    for i, c in enumerate(ops.cycle.tolist()):
        rows[c - start] = {"reset": 0, **{n: cols[n][i] for n in names}}
    return rows


def clear_ops(params: NICParams) -> OpBatch:
    """Operations that zero every RAM word the NIC (or a sub-block) can read: VLAN table,
    descriptors, the page-table stand-in. RAMs are not reset; simulators and Icarus start
    with these.

    >>> p = NICParams(queues=2, ring_size=2, vlans=2, iova_bits=13, iotlb_entries=2,
    ...               iotlb_ways=2)
    >>> len(clear_ops(p))  # 2 VLAN bits, 2 x 2 x 2 descriptors, 2 I/O pages
    12
    """
    p = params
    qpf = p.queues_per_function
    ops = [NICOp.vlan_enable(v, False) for v in range(p.vlans)]
    ops += [NICOp.desc(q, s, 0, ring=r, fn=q // qpf)
            for q in range(qpf * p.functions) for r in range(2) for s in range(p.ring_size)]
    ops += [NICOp.map(d, pg << 12, 0, 0, present=False)
            for d in range(p.functions) for pg in range(1 << p.page_bits)]
    return OpBatch.from_ops(ops)


class NICSim(NICFrontend):
    """The RTL NIC behind the same interface as ``NICModel``; one simulator for its lifetime.

    >>> from hwmodels.nic.ops import NICOp, Status
    >>> p = NICParams(queues=2, filters=1, ring_size=2, iova_bits=16, iotlb_entries=2,
    ...               iotlb_ways=2, vlans=2, itr_us=0.02)
    >>> nic = NICSim(p, "fast")
    >>> _ = nic.configure([NICOp.vlan_enable(0), NICOp.map(0, 0x1000, pfn=7)])
    >>> _ = nic.post(0, [0x1010])
    >>> e = nic.rx(0xAB); (e.status == Status.OK, hex(e.dma_addr), e.iotlb_hit)
    (True, '0x7010', 0)
    >>> nic.idle(2)
    [(5, 0)]
    """

    def __init__(self, params: NICParams, backend: str = "fast",
                 design: NICDesign | None = None) -> None:
        self.params = params
        self.design = design if design is not None else build_nic(params)
        self.backend = rtl.resolve_backend(backend)
        self.sim = rtl.make_simulator(self.design.block, self.backend)
        self.cycles = 0
        self.now = 0
        self._tails: dict[tuple[int, int], int] = {}

    def clear_ops(self) -> OpBatch:
        """Operations that zero every RAM word the NIC can read (run after a reset pulse)."""
        return clear_ops(self.params)

    def reset(self) -> None:
        """A reset pulse, then RAM clearing; the NIC is then in its power-on state at cycle 0."""
        clear = self.clear_ops()
        pulse = {**dict.fromkeys(self.design.inputs, 0), "reset": 1}
        rows = [pulse, *stimulus(clear, 0, len(clear))]
        rtl.run_stimulus(self.sim, rows, [])
        self.cycles += len(rows)
        self.now = 0
        self._tails = {}

    def run(self, ops: OpBatch, until: int | None = None) -> NICResult:
        """One cycle per cycle of the span, operations at their cycles."""
        ops.check(self.params, self.now)
        n = len(ops)
        end = until if until is not None else (int(ops.cycle[-1]) + 1 if n else self.now)
        if n and end <= int(ops.cycle[-1]):
            raise ValueError(f"until: expected > {int(ops.cycle[-1])}, got {end}")
        rows = stimulus(ops, self.now, end)
        names = [*EVENT_PORTS.values(), *IRQ_PORTS]
        out = rtl.run_stimulus(self.sim, rows, names) if rows else {k: [] for k in names}
        idx = (ops.cycle - self.now).astype(np.int64)
        events = {f: np.asarray(out[EVENT_PORTS[f]], dtype=np.int64)[idx].astype(d) if n else
                  np.zeros(0, dtype=d) for f, d in EVENT_DTYPES.items()}
        fire = np.asarray(out["irq_fire"], dtype=np.int64)
        at = np.flatnonzero(fire)
        res = NICResult(events, at + self.now,
                        np.asarray(out["irq_vector"], dtype=np.int64)[at] if len(at) else
                        np.zeros(0, dtype=np.int64))
        self.cycles += len(rows)
        self.now = end
        return res


def _finish(block: pyrtl.Block, outputs: dict[str, WireVector]) -> None:
    for name, value in outputs.items():
        port = Output(len(value), name)
        port <<= value
    block.sanity_check()


def build_classifier(params: NICParams) -> pyrtl.Block:
    """The receive classifier alone: configuration writes and a frame per cycle in; VLAN verdict
    (``cls_vlan_ok``: an ``RX`` frame's VLAN is enabled), queue and refusal out (``NICOp`` port
    names).

    >>> b = build_classifier(NICParams(queues=4, filters=2, vlans=4))
    >>> sorted(w.name for w in b.wirevector_subset(pyrtl.Output))
    ['cls_denied', 'cls_queue', 'cls_vlan_ok']
    """
    p = params
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        w = input_widths(p)
        used = ("reset", "op", "fn", "queue", "mac", "vlan", "flow", "index", "enable", "arg")
        io = _Io(**{n: Input(w[n], n) if n in used else Const(0, w[n]) for n in w})
        pf = io.fn == 0
        with pyrtl.name_scope("classifier"):
            vlan_ok, queue, filter_bad, vlan_bad, defq_bad = _classifier(p, io, pf)
        denied = (~pf & (io.op >= int(Op.FILTER))) | (io.is_op(Op.FILTER) & filter_bad) | (
            io.is_op(Op.VLAN) & vlan_bad) | (io.is_op(Op.DEFAULT_Q) & defq_bad)
        _finish(block, {"cls_vlan_ok": io.is_op(Op.RX) & vlan_ok,
                        "cls_queue": queue[: p.queue_bits], "cls_denied": denied})
    return block


def build_interrupts(params: NICParams) -> pyrtl.Block:
    """The interrupt moderation unit alone: a completion (``done``, ``queue``) and a mask write
    (``mask_write``, ``mask_queue``, ``mask_value``, ``mask_ack``: an unmask that also clears
    the count) per cycle in; ``irq_fire``, ``irq_vector``.

    >>> b = build_interrupts(NICParams(queues=4))
    >>> sorted(w.name for w in b.wirevector_subset(pyrtl.Output))
    ['irq_fire', 'irq_vector']
    """
    p = params
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        qb = p.queue_bits
        ins = {n: Input(bw, n) for n, bw in (("reset", 1), ("done", 1), ("queue", qb),
                                              ("mask_write", 1), ("mask_queue", qb),
                                              ("mask_value", 1), ("mask_ack", 1))}
        with pyrtl.name_scope("irq"):
            fire, vec = _interrupts(p, ins["reset"], ins["done"], ins["queue"],
                                    ins["mask_write"], ins["mask_queue"], ins["mask_value"],
                                    ins["mask_ack"])
        _finish(block, {"irq_fire": fire, "irq_vector": vec})
    return block


def build_iotlb(params: NICParams) -> pyrtl.Block:
    """The IOTLB alone (the ``hwmodels.tlb`` array, domain-tagged): ``op`` (TLB op codes),
    ``iova``, ``domain`` and a page-walk answer in; ``hit``, ``perms``, ``pfn`` out.

    >>> b = build_iotlb(NICParams(iotlb_entries=4, iotlb_ways=2))
    >>> sorted(w.name for w in b.wirevector_subset(pyrtl.Output))
    ['iotlb_hit', 'iotlb_perms', 'iotlb_pfn']
    """
    p = params
    tp = iotlb_params(p)
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        reset, op = Input(1, "reset"), Input(3, "op")
        iova, domain = Input(p.iova_bits, "iova"), Input(p.fn_bits, "domain")
        perms, pfn = Input(2, "walk_perms"), Input(p.pfn_bits, "walk_pfn")
        ports = TLBPorts(reset=reset, op=op, va=iova,
                       vpid=domain[: tp.vpid_bits] if tp.vpid_bits else None, pcid=None,
                       size=Const(0, 2), pfn=pfn, perms=perms.zero_extended(4), glob=Const(0, 1))
        with pyrtl.name_scope("iotlb"):
            arr = build_array(0, tp.l4k, tp, ports, Const(0, 1))
        _finish(block, {"iotlb_hit": arr.hit, "iotlb_perms": arr.perms[:2],
                        "iotlb_pfn": arr.pfn})
    return block


RINGS_PORTS: tuple[str, ...] = ("rings_go", "rings_queue", "rings_ring", "rings_slot",
                                "rings_iova", "rings_drop", "rings_denied")
"""Outputs of ``build_rings``."""


def build_rings(params: NICParams) -> pyrtl.Block:
    """The descriptor rings alone (the NIC's own ``rings`` logic): per queue receive and transmit
    head/tail registers, the descriptor RAM and the round-robin transmit arbiter.

    In: ``reset``, ``op`` (``RX``, ``TX``, ``DESC``, ``DOORBELL``, ``IRQ_MASK`` matter), ``fn``,
    ``queue``, ``ring``, ``slot``, ``addr`` as in ``NICOp``, and the classifier's verdict on a
    frame: ``rx_ok`` (accepted) and ``rx_queue``. Out, in the op's cycle: ``rings_go`` (a
    descriptor is consumed), ``rings_queue`` (the queue served, or the one dropping a frame),
    ``rings_ring`` (1: transmit), ``rings_slot`` and ``rings_iova`` (the head slot and its
    buffer address), ``rings_drop`` (an accepted frame for an empty receive ring),
    ``rings_denied`` (a ``DESC``/``DOORBELL``/``IRQ_MASK`` from a function that does not own
    the queue); 0 when they do not apply.

    >>> b = build_rings(NICParams(queues=4, ring_size=4))
    >>> sorted(w.name for w in b.wirevector_subset(pyrtl.Output)) == sorted(RINGS_PORTS)
    True
    """
    p = params
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        w = input_widths(p)
        used = ("reset", "op", "fn", "queue", "ring", "slot", "addr")
        io = _Io(**{n: Input(w[n], n) if n in used else Const(0, w[n]) for n in w})
        rx_ok, rx_queue = Input(1, "rx_ok"), Input(p.queue_bits, "rx_queue")
        is_rx = io.is_op(Op.RX)
        with pyrtl.name_scope("rings"):
            r = _rings(p, io, is_rx, io.is_op(Op.TX), rx_ok, rx_queue)
        drop = is_rx & rx_ok & r.rx_empty
        zero = Const(0)
        _finish(block, dict(zip(RINGS_PORTS, (
            r.go, select(r.go | drop, r.queue, zero), r.go & r.ring,
            select(r.go, r.slot, zero), select(r.go, r.iova, zero), drop, r.denied,
        ), strict=True)))
    return block


DMA_PORTS: tuple[str, ...] = ("dma_hit", "dma_allowed", "dma_addr")
"""Outputs of ``build_dma`` (plus the page-walk ports without the page-table RAM)."""


def build_dma(params: NICParams, page_table: bool = False) -> pyrtl.Block:
    """The DMA engine alone (the NIC's own ``dma`` logic): address generation through the
    domain-tagged IOTLB, the page walk on a miss, the domain's permission check.

    In: ``reset``; a transfer: ``dma_go``, ``dma_queue`` (its domain is the queue's owner),
    ``dma_ring`` (0: receive, the device writes; 1: transmit, it reads) and ``dma_iova``; the
    host's IOMMU operations ``op`` (``MAP``, ``INV_PAGE``, ``INV_DOMAIN``), ``fn``, ``addr``,
    ``domain``, ``pfn``, ``arg``, ``enable`` as in ``NICOp``. Out: ``dma_hit``, ``dma_allowed``
    (present with the needed permission: else a DMA fault) and ``dma_addr`` (physical).
    As for ``build_nic``, ``page_table`` puts the I/O page tables in a RAM written by ``MAP``
    (simulation); without it (Verilog, cost) the walk leaves the block: ``walk_req``,
    ``walk_domain``, ``walk_page`` out, ``walk_present``, ``walk_perms``, ``walk_pfn`` in.

    >>> b = build_dma(NICParams(queues=4, iova_bits=16, iotlb_entries=4, iotlb_ways=2))
    >>> sorted(w.name for w in b.wirevector_subset(pyrtl.Output))
    ['dma_addr', 'dma_allowed', 'dma_hit', 'walk_domain', 'walk_page', 'walk_req']
    """
    p = params
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        w = input_widths(p)
        used = ("reset", "op", "fn", "addr", "domain") + (
            ("pfn", "arg", "enable") if page_table else ())
        io = _Io(**{n: Input(w[n], n) if n in used else Const(0, w[n]) for n in w})
        go, queue = Input(1, "dma_go"), Input(p.queue_bits, "dma_queue")
        ring, iova = Input(1, "dma_ring"), Input(p.iova_bits, "dma_iova")
        walk_in = None if page_table else (
            Input(1, "walk_present"), Input(2, "walk_perms"), Input(p.pfn_bits, "walk_pfn"))
        with pyrtl.name_scope("dma"):
            d = _dma(p, io, io.fn == 0, go, queue, ring, iova, walk_in)
        _finish(block, {"dma_hit": d.hit, "dma_allowed": d.allowed, "dma_addr": d.addr,
                        **d.walk})
    return block


SUB_BLOCKS: dict[str, tuple[str, object]] = {
    "nic-classifier": ("codesign_nic_classifier", build_classifier),
    "nic-rings": ("codesign_nic_rings", build_rings),
    "nic-dma": ("codesign_nic_dma", build_dma),
    "nic-irq": ("codesign_nic_irq", build_interrupts),
    "nic-iotlb": ("codesign_nic_iotlb", build_iotlb),
}
"""Sub-blocks by engine name: (Verilog top module, builder)."""


def sub_block_verilog(name: str, params: NICParams) -> str:
    """Flat Verilog of a NIC sub-block (``SUB_BLOCKS``), its stable module name on top.

    >>> v = sub_block_verilog("nic-irq", NICParams(queues=2))
    >>> v.count("module codesign_nic_irq(")
    1
    """
    module, builder = SUB_BLOCKS[name]
    return rtl.export_verilog(builder(params), module,  # type: ignore[operator]
                              codes=(Op, Status))


def sub_block_cost(name: str, params: NICParams, tech_nm: float = 130) -> rtl.CostReport:
    """Cost of a NIC sub-block (PyRTL estimators).

    >>> sub_block_cost("nic-classifier", NICParams(queues=2, filters=2, vlans=2)).nets > 0
    True
    """
    _, builder = SUB_BLOCKS[name]
    return rtl.cost_report(builder(params), tech_nm)  # type: ignore[operator]


def nic_verilog(params: NICParams) -> str:
    """Flat Verilog of the NIC (page walks leave the block), top module ``codesign_nic``.

    >>> v = nic_verilog(NICParams(queues=2, filters=1, ring_size=2, vlans=2))
    >>> v.count("module codesign_nic(")
    1
    """
    return rtl.export_verilog(build_nic(params, page_table=False).block, MODULE_NAME,
                              codes=(Op, Status))


def nic_cost(params: NICParams, tech_nm: float = 130) -> rtl.CostReport:
    """Nets, estimated area and fmax of the NIC without the page-table stand-in.

    >>> c = nic_cost(NICParams(queues=2, filters=1, ring_size=2, vlans=2))
    >>> c.register_bits > 0, c.fmax_mhz > 0
    (True, True)
    """
    return rtl.cost_report(build_nic(params, page_table=False).block, tech_nm)
