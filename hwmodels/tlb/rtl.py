"""PyRTL TLB: the same semantics as ``hwmodels.tlb.model``, one operation per clock cycle.

Structure. One block per page-size array, all probed in parallel. Every entry field is a
register (valid, global, VPID, PCID, tag, frame, permissions): the arrays are small and CAM-like,
and the context flushes (``INV_AS``, ``INV_VM*``, ``INV_ALL``) compare every entry's VPID/PCID
at once, which a RAM could not. Lookup reads the indexed set through ``sets``:1 multiplexers,
then compares its ``ways`` entries; priority encoders are balanced trees (lowest index wins).

Replacement state per set: ``lru`` keeps a rank per way (0 = most recent; a touch sets the
way's rank to 0 and ages the ways ranked younger than it), ``plru`` the ``ways - 1`` tree bits,
``random`` one 16-bit LFSR per array (``model.LFSR_TAPS``). The victim of a fill is chosen in the
same cycle: lowest matching way, else lowest invalid way, else the policy's.

Timing. An operation's events are outputs of the cycle it is applied in (combinational read of
the registered state); the state update lands on the next clock edge, so the next operation
sees it. Input ``reset`` (synchronous, 1 cycle) restores the power-on state -- all entries
invalid, LRU ranks by way, PLRU bits 0, LFSR at its seed -- which is also every register's
``reset_value``, so a fresh simulator and the exported Verilog start there too.

Ports (a width-0 tag has no port): inputs ``reset``, ``op`` (3), ``va``, ``vpid``, ``pcid``,
``size`` (2), ``pfn``, ``perms`` (4), ``glob``; outputs ``ev_hit``, ``ev_size``, ``ev_way``,
``ev_pfn``, ``ev_perms``, ``ev_glob``, ``ev_evict``, ``ev_inv`` -- the fields of ``TLBEvent``.
Exported Verilog has the stable module name ``codesign_tlb``.

Building blocks for other designs (the NIC's IOTLB is one array of this TLB): ``TLBPorts``,
``build_array`` and ``ArrayOut``, and the helpers ``lowest_set`` (priority encoder), ``pick``
(multiplexer over a list) and ``drive`` (register update with synchronous reset).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyrtl
from pyrtl import Const, Input, Output, Register, WireVector, concat, mux, select

from hwmodels import rtl
from hwmodels.tlb.model import LFSR_TAPS
from hwmodels.tlb.ops import EVENT_DTYPES, EventBatch, Op, OpBatch, TLBFrontend
from hwmodels.tlb.params import PAGE_NAMES, PAGE_SHIFTS, TLBArrayParams, TLBParams

MODULE_NAME = "codesign_tlb"
STLB_MODULE_NAME = "codesign_stlb"
"""The second-level TLB is the same design at another size, exported under its own name so
that both can sit in one netlist."""
"""Top module name of the exported Verilog (stable across parameters)."""

INPUT_ORDER: tuple[str, ...] = ("reset", "op", "va", "vpid", "pcid", "size", "pfn", "perms", "glob")
"""Input ports (``TLBOp`` fields plus ``reset``); a width-0 tag has no port."""

EVENT_PORTS: dict[str, str] = {f: f"ev_{f}" for f in EVENT_DTYPES}
"""``TLBEvent`` field -> output port name."""


def _clog2(n: int) -> int:
    return max(n - 1, 0).bit_length()


def lowest_set(bits: Sequence[WireVector]) -> tuple[WireVector, WireVector]:
    """(any bit set, index of the lowest set bit) as a log-depth tree; index width >= 1.

    A priority encoder (lowest index wins), as the TLB picks its hit way and the NIC its
    interrupt vector.

    >>> with pyrtl.temp_working_block():
    ...     bits = Input(5, "bits")
    ...     found, idx = lowest_set([bits[i] for i in range(5)])
    ...     sim = pyrtl.Simulation()
    ...     sim.step({"bits": 0b01100})
    ...     sim.inspect(found.name), sim.inspect(idx.name), len(idx)
    (1, 2, 3)
    """
    width = _clog2(len(bits))
    level: list[tuple[WireVector, WireVector | None]] = [(b, None) for b in bits]
    level += [(Const(0, 1), None)] * ((1 << width) - len(bits))
    while len(level) > 1:
        nxt = []
        for (lo_any, lo_idx), (hi_any, hi_idx) in zip(level[::2], level[1::2], strict=True):
            lo = Const(0, 1) if lo_idx is None else concat(Const(0, 1), lo_idx)
            hi = Const(1, 1) if hi_idx is None else concat(Const(1, 1), hi_idx)
            nxt.append((lo_any | hi_any, select(lo_any, lo, hi)))
        level = nxt
    any_set, idx = level[0]
    return any_set, (Const(0, 1) if idx is None else idx)


def _popcount(bits: Sequence[WireVector]) -> WireVector:
    terms: list[WireVector] = list(bits) or [Const(0, 1)]
    while len(terms) > 1:
        pairs = [a + b for a, b in zip(terms[::2], terms[1::2], strict=False)]
        terms = pairs + terms[len(pairs) * 2 :]
    return terms[0]


def pick(index: WireVector | None, values: Sequence[WireVector]) -> WireVector:
    """``values[index]``; a lone value needs no index (1 set, 1 way). With fewer values than
    ``index`` can address, out-of-range indices give 0.

    >>> with pyrtl.temp_working_block():
    ...     out = pick(Input(2, "index"), [Const(v, 4) for v in (5, 6, 7)])
    ...     sim = pyrtl.Simulation()
    ...     [(sim.step({"index": i}), sim.inspect(out.name))[1] for i in range(4)]
    [5, 6, 7, 0]
    """
    if len(values) == 1:
        return values[0]
    assert index is not None
    if len(values) == 1 << len(index):
        return mux(index, *values)
    return mux(index, *values, default=Const(0))


def _named(value: WireVector, name: str) -> WireVector:
    """A wire called ``name`` (inside the current name scope) carrying ``value``."""
    w = WireVector(len(value), name)
    w <<= value
    return w


def drive(reg: Register, value: WireVector, reset: WireVector) -> None:
    """``reg.next <<= value``, or the register's ``reset_value`` while ``reset`` is high."""
    reg.next <<= select(reset, Const(reg.reset_value, reg.bitwidth), value)


@dataclass
class TLBPorts:
    """The wires a TLB array is driven by (``TLBOp`` fields plus ``reset``); a width-0 tag is
    ``None``. Other designs build an array on wires of their own (the NIC's IOTLB)."""

    reset: WireVector
    op: WireVector
    va: WireVector
    vpid: WireVector | None
    pcid: WireVector | None
    size: WireVector
    pfn: WireVector
    perms: WireVector
    glob: WireVector

    def is_op(self, op: Op) -> WireVector:
        return self.op == int(op)


@dataclass
class ArrayOut:
    """What :func:`build_array` gives back: the array's lookup result and fill decision."""

    hit: WireVector  # lookup match in this array (before priority between arrays)
    way: WireVector
    pfn: WireVector  # 4 KiB frame of the translated address
    perms: WireVector
    glob: WireVector
    is_fill: WireVector
    fill_way: WireVector
    evict: WireVector
    cleared: list[WireVector]


def _equal_or_true(a: WireVector | None, b: WireVector | None) -> WireVector:
    return Const(1, 1) if a is None or b is None else a == b


def build_array(
    a: int, ap: TLBArrayParams, p: TLBParams, io: TLBPorts, earlier_hit: WireVector
) -> ArrayOut:
    """One page-size array (``a`` indexes ``PAGE_SHIFTS``) of the TLB, built in the current
    block and name scope, driven by ``io``; ``earlier_hit`` is a hit in a smaller-page array
    probed in parallel (a LOOKUP touches only the first hitting array's replacement state).
    ``build_tlb`` builds one per enabled array; the NIC's IOTLB is one such array.

    >>> from hwmodels.tlb.params import TLBArrayParams, TLBParams, DISABLED
    >>> p = TLBParams(l4k=TLBArrayParams(4, 2), l2m=DISABLED, l1g=DISABLED, vpid_bits=0,
    ...               pcid_bits=0)
    >>> with pyrtl.temp_working_block():
    ...     io = TLBPorts(reset=Input(1, "reset"), op=Input(3, "op"), va=Input(48, "va"),
    ...                   vpid=None, pcid=None, size=Const(0, 2), pfn=Input(40, "pfn"),
    ...                   perms=Const(3, 4), glob=Const(0, 1))
    ...     arr = build_array(0, p.l4k, p, io, Const(0, 1))
    ...     len(arr.hit), len(arr.way), len(arr.pfn)  # 2 ways; frames of a 52-bit PA
    (1, 1, 40)
    """
    shift = PAGE_SHIFTS[a]
    sets, ways = ap.sets, ap.ways
    vpn = io.va[shift:]
    set_idx = vpn[: ap.set_bits] if ap.set_bits else None
    tag_in = vpn[ap.set_bits :]
    frame_bits = p.pa_bits - shift
    reset = io.reset

    # Entry registers, [set][way]; width-0 tags are absent.
    fields = {"valid": 1, "glob": 1, "tag": len(tag_in), "pfn": frame_bits, "perms": 4}
    if p.vpid_bits:
        fields["vpid"] = p.vpid_bits
    if p.pcid_bits:
        fields["pcid"] = p.pcid_bits
    ent = [
        [
            {f: Register(bw, f"s{s}_w{w}_{f}", reset_value=0) for f, bw in fields.items()}
            for w in range(ways)
        ]
        for s in range(sets)
    ]

    with pyrtl.name_scope("read"):
        sel = [{f: pick(set_idx, [ent[s][w][f] for s in range(sets)]) for f in fields}
               for w in range(ways)]
        addr_match = [
            e["valid"] & (e["tag"] == tag_in) & _equal_or_true(e.get("vpid"), io.vpid)
            for e in sel
        ]
        match = [
            m & (e["glob"] | _equal_or_true(e.get("pcid"), io.pcid))
            for m, e in zip(addr_match, sel, strict=True)
        ]
        hit, hit_way = (_named(w, n) for w, n in zip(lowest_set(match), ("hit", "hit_way"),
                                                      strict=True))
        any_invalid, invalid_way = lowest_set([~e["valid"] for e in sel])

    is_fill = io.is_op(Op.FILL) & (io.size == a)
    is_lookup = io.is_op(Op.LOOKUP)
    with pyrtl.name_scope("policy"):
        needs_victim = is_fill & ~hit & ~any_invalid
        victim, update_policy = _build_policy(ap, set_idx, needs_victim, reset, p.lfsr_seed)
        fill_way = _named(select(hit, hit_way, select(any_invalid, invalid_way, victim)),
                          "fill_way")
        touch = is_fill | (is_lookup & hit & ~earlier_hit)
        update_policy(touch, select(is_fill, fill_way, hit_way))

    with pyrtl.name_scope("update"):
        flush_vm = io.is_op(Op.INV_VM)
        flush_vm_ng = io.is_op(Op.INV_VM_NONGLOBAL)
        flush_as = io.is_op(Op.INV_AS)
        flush_all = io.is_op(Op.INV_ALL)
        flush_addr = io.is_op(Op.INV_ADDR)
        cleared = []
        for s in range(sets):
            in_set = Const(1, 1) if set_idx is None else set_idx == s
            for w in range(ways):
                e = ent[s][w]
                same_vm = _equal_or_true(e.get("vpid"), io.vpid)
                same_as = _equal_or_true(e.get("pcid"), io.pcid)
                inv = (
                    flush_all
                    | (flush_vm & same_vm)
                    | (flush_vm_ng & same_vm & ~e["glob"])
                    | (flush_as & same_vm & same_as & ~e["glob"])
                    | (flush_addr & in_set & addr_match[w])
                )
                cleared.append(e["valid"] & inv)
                write = is_fill & in_set & (fill_way == w)
                new = {
                    "valid": select(write, Const(1, 1), e["valid"] & ~inv),
                    "glob": io.glob,
                    "tag": tag_in,
                    "pfn": io.pfn[shift - 12 :],
                    "perms": io.perms,
                    "vpid": io.vpid,
                    "pcid": io.pcid,
                }
                for f, r in e.items():
                    drive(r, new[f] if f == "valid" else select(write, new[f], r), reset)

    frame = pick(hit_way, [e["pfn"] for e in sel])
    low = io.va[12:shift] if shift > 12 else None
    return ArrayOut(
        hit=hit,
        way=hit_way,
        pfn=frame if low is None else concat(frame, low),
        perms=pick(hit_way, [e["perms"] for e in sel]),
        glob=pick(hit_way, [e["glob"] for e in sel]),
        is_fill=is_fill,
        fill_way=fill_way,
        evict=needs_victim,
        cleared=cleared,
    )


def _build_policy(
    ap: TLBArrayParams, set_idx: WireVector | None, needs_victim: WireVector,
    reset: WireVector, seed: int,
) -> tuple[WireVector, Callable[[WireVector, WireVector], None]]:
    """Victim of the indexed set, and a function that wires the policy's state update."""
    sets, ways = ap.sets, ap.ways
    k = _clog2(ways)
    if ap.policy == "random":
        lfsr = Register(16, "lfsr", reset_value=seed)
        step = concat(Const(0, 1), lfsr[1:]) ^ select(lfsr[0], Const(LFSR_TAPS, 16), Const(0, 16))
        drive(lfsr, select(needs_victim, step, lfsr), reset)
        if ways & (ways - 1) == 0:
            victim = lfsr[16 - k :] if k else Const(0, 1)
        else:
            victim = (lfsr * Const(ways))[16 : 16 + k]
        return victim, lambda touch, way: None
    if ways == 1:
        return Const(0, 1), lambda touch, way: None

    in_set = [Const(1, 1) if set_idx is None else set_idx == s for s in range(sets)]
    if ap.policy == "lru":
        ranks = [[Register(k, f"s{s}_w{w}_rank", reset_value=w) for w in range(ways)]
                 for s in range(sets)]
        cur = [pick(set_idx, [ranks[s][w] for s in range(sets)]) for w in range(ways)]
        _, victim = lowest_set([r == ways - 1 for r in cur])

        def update(touch: WireVector, way: WireVector) -> None:
            touched = pick(way, cur)
            new = [
                select(way == w, Const(0, k), select(cur[w] < touched, (cur[w] + 1)[:k], cur[w]))
                for w in range(ways)
            ]
            for s in range(sets):
                for w in range(ways):
                    drive(ranks[s][w], select(touch & in_set[s], new[w], ranks[s][w]), reset)

        return victim, update

    # plru: heap-ordered tree bits, 0 = victim on the left
    tree = [[Register(1, f"s{s}_node{n}", reset_value=0) for n in range(ways - 1)]
            for s in range(sets)]
    cur = [pick(set_idx, [tree[s][n] for s in range(sets)]) for n in range(ways - 1)]
    prefix: WireVector | None = None
    for d in range(k):
        level = cur[(1 << d) - 1 : (1 << (d + 1)) - 1]
        bit = level[0] if prefix is None else mux(prefix, *level)
        prefix = bit if prefix is None else concat(prefix, bit)
    victim = prefix

    def update_tree(touch: WireVector, way: WireVector) -> None:
        new = []
        for d in range(k):
            for i in range(1 << d):
                node = (1 << d) - 1 + i
                on_path = Const(1, 1) if d == 0 else way[k - d :] == i
                new.append(select(on_path, ~way[k - 1 - d], cur[node]))
        for s in range(sets):
            for n in range(ways - 1):
                drive(tree[s][n], select(touch & in_set[s], new[n], tree[s][n]), reset)

    return victim, update_tree


@dataclass(frozen=True)
class TLBDesign:
    """A built TLB block and its port widths."""

    params: TLBParams
    block: pyrtl.Block
    inputs: dict[str, int]
    outputs: dict[str, int]


def build_tlb(params: TLBParams) -> TLBDesign:
    """Build the TLB in its own PyRTL block.

    >>> from hwmodels.tlb.params import TLBArrayParams, TLBParams, DISABLED
    >>> d = build_tlb(TLBParams(l4k=TLBArrayParams(8, 2), l2m=DISABLED, l1g=DISABLED))
    >>> sorted(d.inputs.items())
    [('glob', 1), ('op', 3), ('pcid', 12), ('perms', 4), ('pfn', 40), ('reset', 1), ('size', 2), ('va', 48), ('vpid', 16)]
    >>> d.outputs["ev_way"], d.outputs["ev_inv"]
    (1, 4)
    """  # noqa: E501
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        io = TLBPorts(
            reset=Input(1, "reset"),
            op=Input(3, "op"),
            va=Input(params.va_bits, "va"),
            vpid=Input(params.vpid_bits, "vpid") if params.vpid_bits else None,
            pcid=Input(params.pcid_bits, "pcid") if params.pcid_bits else None,
            size=Input(2, "size"),
            pfn=Input(params.pfn_bits, "pfn"),
            perms=Input(4, "perms"),
            glob=Input(1, "glob"),
        )
        arrays: list[tuple[int, ArrayOut]] = []
        earlier: WireVector = Const(0, 1)
        with pyrtl.name_scope("tlb"):
            for a, ap in enumerate(params.arrays):
                if ap.enabled:
                    with pyrtl.name_scope(PAGE_NAMES[a]):
                        out = build_array(a, ap, params, io, earlier)
                    arrays.append((a, out))
                    earlier = earlier | out.hit

            is_lookup = io.is_op(Op.LOOKUP)
            way_bits = max(1, _clog2(params.max_ways))
            # Walk from the largest page size down so the smallest hitting size has the last word.
            lk_size, lk_way, lk_pfn = Const(0, 2), Const(0, way_bits), Const(0, params.pfn_bits)
            lk_perms, lk_glob = Const(0, 4), Const(0, 1)
            for a, out in reversed(arrays):
                lk_size = select(out.hit, Const(a, 2), lk_size)
                lk_way = select(out.hit, out.way.zero_extended(way_bits), lk_way)
                lk_pfn = select(out.hit, out.pfn, lk_pfn)
                lk_perms = select(out.hit, out.perms, lk_perms)
                lk_glob = select(out.hit, out.glob, lk_glob)
            lk_hit = is_lookup & earlier
            any_fill = pyrtl.rtl_any(*(o.is_fill for _, o in arrays))
            fill_hit = pyrtl.rtl_any(*(o.is_fill & o.hit for _, o in arrays))
            fill_way = Const(0, way_bits)
            for _, out in arrays:
                fill_way = fill_way | select(out.is_fill, out.fill_way.zero_extended(way_bits),
                                             Const(0, way_bits))
            inv = _popcount([c for _, o in arrays for c in o.cleared])

        zero = Const(0)
        events = {
            "hit": lk_hit | fill_hit,
            "size": select(lk_hit, lk_size, select(any_fill, io.size, zero)),
            "way": select(lk_hit, lk_way, select(any_fill, fill_way, zero)),
            "pfn": select(lk_hit, lk_pfn, zero),
            "perms": select(lk_hit, lk_perms, zero),
            "glob": select(lk_hit, lk_glob, zero),
            "evict": pyrtl.rtl_any(*(o.evict for _, o in arrays)),
            "inv": inv,
        }
        widths = {
            "hit": 1,
            "size": 2,
            "way": way_bits,
            "pfn": params.pfn_bits,
            "perms": 4,
            "glob": 1,
            "evict": 1,
            "inv": _clog2(params.entries + 1),
        }
        for f, value in events.items():
            port = Output(widths[f], EVENT_PORTS[f])
            port <<= value
        block.sanity_check()
    widths_in = {w.name: w.bitwidth for w in block.wirevector_subset(Input)}
    inputs = {n: widths_in[n] for n in INPUT_ORDER if n in widths_in}
    outputs = {w.name: w.bitwidth for w in block.wirevector_subset(Output)}
    return TLBDesign(params, block, inputs, outputs)


def stimulus(design: TLBDesign, ops: OpBatch, reset: bool = False) -> list[dict[str, int]]:
    """One input dict per operation (optionally preceded by a reset cycle).

    >>> from hwmodels.tlb.params import TLBArrayParams, TLBParams, DISABLED
    >>> from hwmodels.tlb.ops import TLBOp
    >>> d = build_tlb(TLBParams(l4k=TLBArrayParams(4, 4), l2m=DISABLED, l1g=DISABLED,
    ...                         vpid_bits=0, pcid_bits=0))
    >>> stimulus(d, OpBatch.from_ops([TLBOp.lookup(0x3000)]))
    [{'reset': 0, 'op': 1, 'va': 12288, 'size': 0, 'pfn': 0, 'perms': 0, 'glob': 0}]
    """
    cols = {name: ops.columns()[name].tolist() for name in design.inputs if name != "reset"}
    names = list(cols)
    rows = [dict(zip(names, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]
    out = [{"reset": 0, **r} for r in rows]
    if reset:
        out.insert(0, {"reset": 1, **dict.fromkeys(names, 0)})
    return out


def events_from_outputs(outputs: dict[str, list[int]]) -> EventBatch:
    """Output-port traces -> ``EventBatch``."""
    cols = (np.array(outputs[EVENT_PORTS[f]], dtype=d) for f, d in EVENT_DTYPES.items())
    return EventBatch(*cols)


class TLBSim(TLBFrontend):
    """The RTL TLB behind the same interface as ``TLBModel``; one simulator for its lifetime.

    >>> from hwmodels.tlb.params import TLBArrayParams, TLBParams, DISABLED
    >>> tlb = TLBSim(TLBParams(l4k=TLBArrayParams(8, 2), l2m=DISABLED, l1g=DISABLED), "fast")
    >>> tlb.fill(0x9000, pfn=0x5).way, tlb.lookup(0x9abc).pfn
    (0, 5)
    >>> tlb.reset(); tlb.lookup(0x9abc).hit
    0
    """

    def __init__(self, params: TLBParams, backend: str = "fast",
                 design: TLBDesign | None = None) -> None:
        self.params = params
        self.design = design if design is not None else build_tlb(params)
        self.backend = rtl.resolve_backend(backend)
        self.sim = rtl.make_simulator(self.design.block, self.backend)
        self.cycles = 0

    def reset(self) -> None:
        """One cycle with ``reset`` high."""
        rtl.run_stimulus(self.sim, stimulus(self.design, OpBatch.from_ops([]), reset=True), [])
        self.cycles += 1

    def run(self, ops: OpBatch) -> EventBatch:
        """One cycle per operation."""
        ops.check(self.params)
        if not len(ops):
            return EventBatch.zeros(0)
        out = rtl.run_stimulus(self.sim, stimulus(self.design, ops), list(EVENT_PORTS.values()))
        self.cycles += len(ops)
        return events_from_outputs(out)


def tlb_verilog(params: TLBParams, module: str = MODULE_NAME) -> str:
    """Flat Verilog of the TLB, top module ``codesign_tlb`` (or ``module``), its header
    listing the ports and the operation codes (:class:`~hwmodels.tlb.ops.Op`).

    >>> from hwmodels.tlb.params import TLBArrayParams, TLBParams, DISABLED
    >>> v = tlb_verilog(TLBParams(l4k=TLBArrayParams(4, 4), l2m=DISABLED, l1g=DISABLED))
    >>> v.count("module codesign_tlb(")
    1
    """
    return rtl.export_verilog(build_tlb(params).block, module, codes=(Op,))


def tlb_cost(params: TLBParams, tech_nm: float = 130) -> rtl.CostReport:
    """Nets, estimated area and fmax of the TLB (PyRTL estimators, see ``hwmodels.rtl``).

    >>> from hwmodels.tlb.params import TLBArrayParams, TLBParams, DISABLED
    >>> c = tlb_cost(TLBParams(l4k=TLBArrayParams(4, 4), l2m=DISABLED, l1g=DISABLED))
    >>> c.register_bits > 4 * 48, c.fmax_mhz > 0
    (True, True)
    """
    return rtl.cost_report(build_tlb(params).block, tech_nm)
