"""PyRTL page walker with its page-walk caches and nested TLB: the semantics of ``model``.

Structure. One FSM (``IDLE, G_PROBE, G_REQ, G_WAIT, H_PROBE, H_REQ, H_WAIT, DONE``) with one
outstanding memory request. ``G_*`` states walk the guest (or native) dimension, ``H_*`` states
translate one guest-physical address (a guest table's, or the data page's) through the host
table. The caches sit beside the FSM as register arrays probed combinationally: the guest
page-walk cache in ``G_PROBE`` (once per walk), the nested TLB and nested page-walk cache in
``H_PROBE`` (once per host translation). Each cache level is fully associative with LRU ranks;
the nested TLB is set-associative with per-set LRU ranks (the TLB's conventions: rank 0 most
recent, power-on ranks by way, lowest invalid way first). Every structure sees at most one
touch or fill per cycle, and flushes happen only in ``IDLE``, so there are no write conflicts.

Ports. Request: ``req_valid``, ``req_op`` (3, a ``WalkOp``), ``req_va``, ``req_cr3``,
``req_eptp``, ``req_vm``, ``req_asid``; accepted when ``req_ready`` (in ``IDLE``). Memory:
``mem_req_valid`` (one cycle per reference), ``mem_req_addr``, ``mem_req_dim`` (0 guest, 1
nested); the driver answers with ``mem_resp_valid``/``mem_resp_data`` any number of cycles
later. Result: ``done`` for one cycle with ``res_*`` (the ``WalkEvent`` fields). ``reset``
(synchronous) restores the power-on state, which is also every register's ``reset_value``.
Every output is a function of registers only (a Moore machine), so a driver can read a cycle's
outputs and answer in a later cycle. Exported Verilog has the stable module name ``walker``.

The cycle-free behavioural twin is ``PageWalkModel``; :class:`WalkerSim` is the test driver
and monitor in one: it holds the memory image, answers requests after a random latency, and
records each walk's references and result as ``WalkEvents``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import pyrtl
from pyrtl import Const, Input, Output, Register, WireVector, concat, select

from hwmodels import rtl
from hwmodels.pagewalk.ops import EVENT_FIELDS, WalkBatch, WalkEvent, WalkEvents, WalkOp
from hwmodels.pagewalk.params import WalkerParams
from hwmodels.pagewalk.tables import Memory

MODULE_NAME = "walker"
"""Top module name of the exported Verilog (stable across parameters)."""

IDLE, G_PROBE, G_REQ, G_WAIT, H_PROBE, H_REQ, H_WAIT, DONE = range(8)
RESULT_PORTS: dict[str, str] = {f: f"res_{f}" for f in EVENT_FIELDS if f != "refs"}
"""``WalkEvent`` field -> output port (``refs`` is counted from the memory requests)."""
OUTPUTS: tuple[str, ...] = ("req_ready", "mem_req_valid", "mem_req_addr", "mem_req_dim", "done",
                            *RESULT_PORTS.values())


def _clog2(n: int) -> int:
    return max(n - 1, 0).bit_length()


def _fit(w: WireVector, width: int) -> WireVector:
    """``w`` truncated or zero-extended to ``width`` bits."""
    return w[:width] if len(w) >= width else w.zero_extended(width)


def _drive(reg: Register, value: WireVector, reset: WireVector) -> None:
    reg.next <<= select(reset, Const(reg.reset_value, reg.bitwidth), _fit(value, reg.bitwidth))


def _first(conds: Sequence[WireVector], values: Sequence[WireVector],
           default: WireVector) -> WireVector:
    """The value of the first true condition (priority in list order), else ``default``."""
    out = default
    for c, v in reversed(list(zip(conds, values, strict=True))):
        out = select(c, v, out)
    return out


def _onehot_pick(hot: Sequence[WireVector], values: Sequence[WireVector]) -> WireVector:
    """OR of the values whose select bit is set (at most one is)."""
    width = max(len(v) for v in values)
    out = Const(0, width)
    for h, v in zip(hot, values, strict=True):
        out = out | select(h, _fit(v, width), Const(0, width))
    return out


def _lowest(bits: Sequence[WireVector]) -> list[WireVector]:
    """One-hot mask of the lowest set bit."""
    seen = Const(0, 1)
    out = []
    for b in bits:
        out.append(b & ~seen)
        seen = seen | b
    return out


class _Array:
    """``sets`` x ``ways`` entries of named register fields, with LRU ranks per set.

    ``probe``/``touch``/``fill``/``clear`` record what the cycle does; ``finish`` wires the
    registers. Fills take the lowest invalid way, else the LRU victim (see ``model``).
    """

    def __init__(self, name: str, sets: int, ways: int, fields: dict[str, int],
                 reset: WireVector) -> None:
        self.sets, self.ways, self.reset = sets, ways, reset
        self.fields = {"valid": 1, **fields}
        self.rb = max(1, _clog2(ways))
        self.e = [[{f: Register(bw, f"{name}_s{s}_w{w}_{f}", reset_value=0)
                    for f, bw in self.fields.items()} for w in range(ways)] for s in range(sets)]
        self.rank = [[Register(self.rb, f"{name}_s{s}_w{w}_rank", reset_value=w)
                      for w in range(ways)] for s in range(sets)]
        self.set_idx: WireVector | None = None
        self.upd_en: WireVector = Const(0, 1)
        self.upd_way: list[WireVector] = [Const(0, 1)] * ways
        self.fill_en: WireVector = Const(0, 1)
        self.fill_vals: dict[str, WireVector] = {}
        self.fill_way: list[WireVector] = [Const(0, 1)] * ways
        self.clear: list[list[WireVector]] = [[Const(0, 1)] * ways for _ in range(sets)]

    def use_set(self, set_idx: WireVector | None) -> None:
        self.set_idx = set_idx if self.sets > 1 else None
        if self.sets == 1:
            self.cur = self.e[0]
            self.cur_rank = self.rank[0]
        else:
            assert set_idx is not None
            self.cur = [{f: pyrtl.mux(set_idx, *(self.e[s][w][f] for s in range(self.sets)))
                         for f in self.fields} for w in range(self.ways)]
            self.cur_rank = [pyrtl.mux(set_idx, *(self.rank[s][w] for s in range(self.sets)))
                             for w in range(self.ways)]

    def probe(self, key: dict[str, WireVector]) -> tuple[WireVector, list[WireVector]]:
        """(any way matches, one-hot lowest matching way) in the current set."""
        match = []
        for ent in self.cur:
            m = ent["valid"]
            for f, v in key.items():
                m = m & (ent[f] == _fit(v, self.fields[f]))
            match.append(m)
        return pyrtl.rtl_any(*match), _lowest(match)

    def read(self, hot: list[WireVector], field: str) -> WireVector:
        return _onehot_pick(hot, [ent[field] for ent in self.cur])

    def touch(self, en: WireVector, hot: list[WireVector]) -> None:
        self.upd_en = self.upd_en | en
        self.upd_way = [u | (en & h) for u, h in zip(self.upd_way, hot, strict=True)]

    def fill(self, en: WireVector, vals: dict[str, WireVector]) -> None:
        invalid = _lowest([~ent["valid"] for ent in self.cur])
        any_invalid = pyrtl.rtl_any(*(~ent["valid"] for ent in self.cur))
        oldest = [r == self.ways - 1 for r in self.cur_rank]
        victim = [select(any_invalid, i, o) for i, o in zip(invalid, oldest, strict=True)]
        self.fill_en = en
        self.fill_vals = vals
        self.fill_way = victim
        self.touch(en, victim)

    def flush(self, cond) -> None:
        """Clear every valid entry for which ``cond(entry_fields)`` is true."""
        self.clear = [[cond(self.e[s][w]) for w in range(self.ways)] for s in range(self.sets)]

    def finish(self) -> None:
        touched_rank = _onehot_pick(self.upd_way, self.cur_rank)
        for s in range(self.sets):
            in_set = Const(1, 1) if self.set_idx is None else self.set_idx == s
            for w in range(self.ways):
                ent = self.e[s][w]
                write = self.fill_en & in_set & self.fill_way[w]
                for f, r in ent.items():
                    if f == "valid":
                        new = select(write, Const(1, 1), r & ~self.clear[s][w])
                    else:
                        new = select(write, _fit(self.fill_vals[f], len(r)), r)
                    _drive(r, new, self.reset)
                rk = self.rank[s][w]
                aged = select(rk < touched_rank, (rk + 1)[: self.rb], rk)
                new_rank = select(self.upd_way[w], Const(0, self.rb), aged)
                _drive(rk, select(self.upd_en & in_set, new_rank, rk), self.reset)


@dataclass(frozen=True)
class WalkerDesign:
    """A built walker block and its port widths."""

    params: WalkerParams
    block: pyrtl.Block
    inputs: dict[str, int]
    outputs: dict[str, int]


def _perm_bits(e: WireVector) -> WireVector:
    """Allow bits (W=1, U=2, X=4) of an entry."""
    return concat(~e[63], e[2], e[1])


def _page_frame(frame: WireVector, x_frame: WireVector, level: WireVector, levels: int,
                width: int) -> WireVector:
    """Frame of the translated 4 KiB page: the leaf's frame with the page-offset bits of ``x``."""
    out = _fit(frame, width)
    for L in (2, 3):
        if levels >= L:
            mask = (1 << (9 * (L - 1))) - 1
            huge = (out & Const(((1 << width) - 1) ^ mask, width)) | (
                _fit(x_frame, width) & Const(mask, width))
            out = select(level == L, huge, out)
    return out


def _index(x: WireVector, level: WireVector, levels: int) -> WireVector:
    """The 9-bit table index of ``x`` at ``level`` (1..levels)."""
    slices = []
    for L in range(1, levels + 1):
        lo = 12 + 9 * (L - 1)
        slices.append(_fit(x[lo:lo + 9], 9) if lo < len(x) else Const(0, 9))
    return _first([level == L for L in range(1, levels + 1)], slices, Const(0, 9))


def build_walker(params: WalkerParams) -> WalkerDesign:
    """Build the walker in its own PyRTL block.

    >>> from hwmodels.pagewalk.params import NTLBParams, PWCParams, WalkerParams
    >>> d = build_walker(WalkerParams(2, 2, PWCParams(1), PWCParams(0), NTLBParams(0, 0),
    ...                               pa_bits=32, vm_bits=1, asid_bits=1))
    >>> d.inputs["req_va"], d.outputs["mem_req_addr"], d.outputs["res_frame"]
    (30, 32, 20)
    """
    p = params
    ng, nh, PA, VA = p.guest_levels, p.host_levels, p.pa_bits, p.va_bits
    FW = PA - 12  # frame width
    XW = min(PA, p.gpa_reach_bits)  # gPA bits a host walk looks at
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        reset = Input(1, "reset")
        req_valid, req_op = Input(1, "req_valid"), Input(3, "req_op")
        req_va, req_cr3, req_eptp = Input(VA, "req_va"), Input(PA, "req_cr3"), Input(PA, "req_eptp")
        req_vm, req_asid = Input(p.vm_bits, "req_vm"), Input(p.asid_bits, "req_asid")
        resp_valid, resp_data = Input(1, "mem_resp_valid"), Input(64, "mem_resp_data")

        with pyrtl.name_scope("walker"):
            R = {name: Register(bw, name, reset_value=0) for name, bw in {
                "state": 3, "nested": 1, "va": VA, "cr3": FW, "eptp": FW, "vm": p.vm_bits,
                "asid": p.asid_bits, "gl": 3, "gbase": FW, "gperm": 3, "gsize": 2,
                "hl": 3, "hbase": FW, "hperm": 3, "hgpa": PA, "hfinal": 1,
                "fault": 3, "level": 3, "step": 3, "frame": FW, "size": 2, "perms": 4,
                "gpwc": 3, "npwc": 3, "nhit": 3, "nmiss": 3}.items()}
            nxt: dict[str, WireVector] = {}  # next-state values, default: hold

            def st(s: int) -> WireVector:
                return R["state"] == s

            def assign(name: str, cond: WireVector, value: WireVector | int) -> None:
                v = Const(value, len(R[name])) if isinstance(value, int) else value
                nxt[name] = select(cond, _fit(v, len(R[name])), nxt.get(name, R[name]))

            va, vm, asid = R["va"], R["vm"], R["asid"]
            x = _fit(R["hgpa"], XW)

            # --- caches ------------------------------------------------------------------
            def pwc_levels(dim: str, top: int, entries, with_asid: bool, addr: WireVector):
                arrays = {}
                for L in range(2, top + 1):
                    n = entries.at(L)
                    if not n:
                        continue
                    tag_w = max(len(addr) - (12 + 9 * (L - 1)), 1)
                    f = {"vm": p.vm_bits, "tag": tag_w, "base": FW, "perm": 3}
                    if with_asid:
                        f["asid"] = p.asid_bits
                    with pyrtl.name_scope(f"{dim}_l{L}"):
                        arr = _Array(f"{dim}{L}", 1, n, f, reset)
                    arr.use_set(None)
                    arrays[L] = arr
                return arrays

            def tag_of(addr: WireVector, L: int) -> WireVector:
                lo = 12 + 9 * (L - 1)
                return addr[lo:] if lo < len(addr) else Const(0, 1)

            gpwc = pwc_levels("gpwc", ng, p.pwc_guest, True, va)
            npwc = pwc_levels("npwc", nh, p.pwc_nested, False, x)

            def probe_levels(arrays, addr, key):
                hits, bases, perms, hots = [], [], [], []
                for L, arr in sorted(arrays.items()):
                    hit, hot = arr.probe({**key, "tag": tag_of(addr, L)})
                    hits.append(hit)
                    hots.append((L, arr, hit, hot))
                    bases.append(arr.read(hot, "base"))
                    perms.append(arr.read(hot, "perm"))
                first = _lowest(hits)
                levels = [Const(L, 3) for L, *_ in hots]
                level = _first(first, levels, Const(0, 3))
                return (pyrtl.rtl_any(*hits) if hits else Const(0, 1), level,
                        _first(first, bases, Const(0, FW)), _first(first, perms, Const(0, 3)),
                        list(zip(first, hots, strict=True)))

            g_hit, g_lvl, g_base, g_perm, g_hots = probe_levels(gpwc, va, {"vm": vm, "asid": asid})
            n_hit, n_lvl, n_base, n_perm, n_hots = probe_levels(npwc, x, {"vm": vm})
            for chosen, (_, arr, _, hot) in g_hots:
                arr.touch(st(G_PROBE) & chosen, hot)

            ntlb = None
            t_hit = Const(0, 1)
            if p.ntlb.enabled:
                page = x[12:]
                sb = p.ntlb.set_bits
                with pyrtl.name_scope("ntlb"):
                    ntlb = _Array("ntlb", p.ntlb.sets, p.ntlb.ways,
                                  {"vm": p.vm_bits, "tag": max(len(page) - sb, 1), "base": FW,
                                   "size": 2, "perm": 3}, reset)
                ntlb.use_set(page[:sb] if sb else None)
                t_tag = page[sb:] if sb < len(page) else Const(0, 1)
                t_hit, t_hot = ntlb.probe({"vm": vm, "tag": t_tag})
                ntlb.touch(st(H_PROBE) & t_hit, t_hot)
                t_base, t_size, t_perm = (ntlb.read(t_hot, f) for f in ("base", "size", "perm"))
            for chosen, (_, arr, _, hot) in n_hots:
                arr.touch(st(H_PROBE) & ~t_hit & chosen, hot)

            # --- IDLE: accept a request ---------------------------------------------------
            accept = st(IDLE) & req_valid
            is_walk = (req_op == int(WalkOp.NATIVE)) | (req_op == int(WalkOp.NESTED))
            is_flush = (req_op >= int(WalkOp.FLUSH_ALL)) & (req_op <= int(WalkOp.FLUSH_ASID))
            start = accept & is_walk
            for name, value in (("nested", req_op == int(WalkOp.NESTED)), ("va", req_va),
                                ("cr3", req_cr3[12:]), ("eptp", req_eptp[12:]), ("vm", req_vm),
                                ("asid", req_asid)):
                assign(name, start, value)
            for name in ("fault", "level", "step", "frame", "size", "perms", "gpwc", "npwc",
                         "nhit", "nmiss"):
                assign(name, accept & (is_walk | is_flush), 0)
            assign("state", start, G_PROBE)
            assign("state", accept & is_flush, DONE)
            f_all = accept & (req_op == int(WalkOp.FLUSH_ALL))
            f_vm = accept & (req_op == int(WalkOp.FLUSH_VM))
            f_as = accept & (req_op == int(WalkOp.FLUSH_ASID))
            for arr in gpwc.values():
                arr.flush(lambda e: f_all | ((f_vm | (f_as & (e["asid"] == req_asid)))
                                             & (e["vm"] == req_vm)))
            for arr in [*npwc.values(), *([ntlb] if ntlb else [])]:
                arr.flush(lambda e: f_all | (f_vm & (e["vm"] == req_vm)))

            # --- G_PROBE ------------------------------------------------------------------
            gp = st(G_PROBE)
            assign("gpwc", gp, g_lvl)
            assign("gl", gp, select(g_hit, (g_lvl - 1)[:3], Const(ng, 3)))
            assign("gbase", gp, select(g_hit, g_base, R["cr3"]))
            assign("gperm", gp, select(g_hit, g_perm, Const(7, 3)))
            to_host = gp & ~g_hit & R["nested"]
            assign("hgpa", to_host, concat(R["cr3"], Const(0, 12)))
            assign("hfinal", to_host, 0)
            assign("state", gp, select(to_host, Const(H_PROBE, 3), Const(G_REQ, 3)))

            # --- memory requests ----------------------------------------------------------
            g_addr = concat(R["gbase"], _index(va, R["gl"], ng), Const(0, 3))
            h_addr = concat(R["hbase"], _index(x, R["hl"], nh), Const(0, 3))
            assign("state", st(G_REQ), G_WAIT)
            assign("state", st(H_REQ), H_WAIT)

            e = resp_data
            present, huge, allow = e[0], e[7], _perm_bits(e)
            e_frame = _fit(e[12:52], FW)

            # --- G_WAIT: a guest (or native) entry arrives -----------------------------------
            gw = st(G_WAIT) & resp_valid
            gl = R["gl"]
            g_newperm = R["gperm"] & allow
            g_rsvd = huge & (gl >= 4)
            g_leaf = (gl == 1) | (huge & ((gl == 2) | (gl == 3)))
            g_fault = gw & (~present | g_rsvd)
            assign("fault", g_fault, select(present, Const(3, 3), Const(1, 3)))
            assign("level", g_fault, gl)
            assign("state", g_fault, DONE)
            g_ok = gw & present & ~g_rsvd
            assign("gperm", g_ok, g_newperm)
            g_page = _page_frame(e_frame, va[12:], gl, ng, FW)
            leaf_native = g_ok & g_leaf & ~R["nested"]
            assign("frame", leaf_native, g_page)
            assign("size", leaf_native, (gl - 1)[:2])
            assign("perms", leaf_native, concat(g_newperm[1], g_newperm[2], g_newperm[0],
                                                Const(1, 1)))
            assign("state", leaf_native, DONE)
            leaf_nested = g_ok & g_leaf & R["nested"]
            assign("gsize", leaf_nested, (gl - 1)[:2])
            assign("hgpa", leaf_nested, concat(g_page, va[:12]))
            assign("hfinal", leaf_nested, 1)
            inner = g_ok & ~g_leaf
            assign("gl", inner, (gl - 1)[:3])
            assign("gbase", inner & ~R["nested"], e_frame)
            assign("state", inner & ~R["nested"], G_REQ)
            assign("hgpa", inner & R["nested"], concat(e_frame, Const(0, 12)))
            assign("hfinal", inner & R["nested"], 0)
            assign("state", (inner | leaf_nested) & R["nested"], H_PROBE)
            g_fill_native = inner & ~R["nested"]

            # --- H_PROBE: nested TLB, then nested page-walk cache ---------------------------
            hp = st(H_PROBE)
            if ntlb is not None:
                assign("nhit", hp & t_hit, (R["nhit"] + 1)[:3])
                assign("nmiss", hp & ~t_hit, (R["nmiss"] + 1)[:3])
            walk_host = hp & ~t_hit
            assign("npwc", walk_host & n_hit, (R["npwc"] + 1)[:3])
            assign("hl", walk_host, select(n_hit, (n_lvl - 1)[:3], Const(nh, 3)))
            assign("hbase", walk_host, select(n_hit, n_base, R["eptp"]))
            assign("hperm", walk_host, select(n_hit, n_perm, Const(7, 3)))
            assign("state", walk_host, H_REQ)

            # --- H_WAIT: a host entry arrives -----------------------------------------------
            hw = st(H_WAIT) & resp_valid
            hl = R["hl"]
            h_newperm = R["hperm"] & allow
            h_rsvd = huge & (hl >= 4)
            h_leaf = (hl == 1) | (huge & ((hl == 2) | (hl == 3)))
            h_fault = hw & (~present | h_rsvd)
            assign("fault", h_fault, select(present, Const(4, 3), Const(2, 3)))
            assign("level", h_fault, hl)
            assign("step", h_fault, select(R["hfinal"], Const(0, 3), R["gl"]))
            assign("state", h_fault, DONE)
            h_ok = hw & present & ~h_rsvd
            h_inner = h_ok & ~h_leaf
            assign("hperm", h_inner, h_newperm)
            assign("hbase", h_inner, e_frame)
            assign("hl", h_inner, (hl - 1)[:3])
            assign("state", h_inner, H_REQ)
            h_done = h_ok & h_leaf
            h_page = _page_frame(e_frame, x[12:], hl, nh, FW)
            if ntlb is not None:
                ntlb.fill(h_done, {"vm": vm, "tag": t_tag, "base": h_page,
                                   "size": (hl - 1)[:2], "perm": h_newperm})

            # --- a host translation completes (nested-TLB hit or host leaf) -----------------
            if ntlb is not None:
                c_en = (hp & t_hit) | h_done
                c_frame = select(h_done, h_page, t_base)
                c_size = select(h_done, (hl - 1)[:2], t_size)
                c_perm = select(h_done, h_newperm, t_perm)
            else:
                c_en, c_frame, c_size, c_perm = h_done, h_page, (hl - 1)[:2], h_newperm
            fin = c_en & R["hfinal"]
            gperm = R["gperm"]
            assign("frame", fin, c_frame)
            assign("size", fin, select(c_size < R["gsize"], c_size, R["gsize"]))
            both = gperm & c_perm
            assign("perms", fin, concat(gperm[1], both[2], both[0], Const(1, 1)))
            assign("state", fin, DONE)
            table = c_en & ~R["hfinal"]
            assign("gbase", table, c_frame)
            assign("state", table, G_REQ)
            g_fill_nested = table & (R["gl"] < ng)

            # --- page-walk cache fills ------------------------------------------------------
            fill_level = select(g_fill_native, R["gl"], (R["gl"] + 1)[:3])
            fill_base = select(g_fill_native, e_frame, c_frame)
            fill_perm = select(g_fill_native, g_newperm, gperm)
            for L, arr in gpwc.items():
                arr.fill((g_fill_native | g_fill_nested) & (fill_level == L),
                         {"vm": vm, "asid": asid, "tag": tag_of(va, L), "base": fill_base,
                          "perm": fill_perm})
            for L, arr in npwc.items():
                arr.fill(h_inner & (hl == L), {"vm": vm, "tag": tag_of(x, L), "base": e_frame,
                                               "perm": h_newperm})

            assign("state", st(DONE), IDLE)
            for arr in [*gpwc.values(), *npwc.values(), *([ntlb] if ntlb else [])]:
                arr.finish()
            for name, reg in R.items():
                _drive(reg, nxt.get(name, reg), reset)

        outs = {
            "req_ready": st(IDLE),
            "mem_req_valid": st(G_REQ) | st(H_REQ),
            "mem_req_addr": select(st(H_REQ), h_addr, g_addr),
            "mem_req_dim": st(H_REQ),
            "done": st(DONE),
            "res_fault": R["fault"], "res_level": R["level"], "res_step": R["step"],
            "res_frame": R["frame"], "res_size": R["size"], "res_perms": R["perms"],
            "res_gpwc": R["gpwc"], "res_npwc": R["npwc"], "res_ntlb_hit": R["nhit"],
            "res_ntlb_miss": R["nmiss"],
        }
        widths = {"mem_req_addr": PA, "res_frame": FW}
        for name, value in outs.items():
            port = Output(widths.get(name, len(value)), name)
            port <<= _fit(value, len(port))
        block.sanity_check()
    inputs = {w.name: w.bitwidth for w in block.wirevector_subset(Input)}
    outputs = {w.name: w.bitwidth for w in block.wirevector_subset(Output)}
    return WalkerDesign(params, block, inputs, outputs)


IDLE_INPUTS = ("req_valid", "req_op", "req_va", "req_cr3", "req_eptp", "req_vm", "req_asid",
               "mem_resp_valid", "mem_resp_data", "reset")


class WalkerSim:
    """Driver and monitor of the RTL walker: the same ``run`` as ``PageWalkModel``.

    Holds the memory image; answers each memory request ``latency`` cycles (drawn uniformly
    from the inclusive range, seeded) after the cycle it is seen. ``record=True`` keeps every
    cycle's inputs and outputs (``trace_in``/``trace_out``) for co-simulation.

    >>> from hwmodels.pagewalk import WalkRequest
    >>> from hwmodels.pagewalk.tables import FrameAllocator, PageTable
    >>> mem = Memory(); pt = PageTable.in_memory(mem, 2, FrameAllocator(0x10000))
    >>> pt.map(0x3000, 0x7000)
    >>> sim = WalkerSim(WalkerParams(2, 2, pa_bits=32, vm_bits=1, asid_bits=1), mem)
    >>> ev = sim.walk(WalkRequest.native(0x3008, pt.root))
    >>> hex(ev.frame), [hex(a) for a in ev.addrs]
    ('0x7', ['0x10000', '0x11018'])
    """

    def __init__(self, params: WalkerParams, memory: Memory | None = None,
                 backend: str = "fast", design: WalkerDesign | None = None,
                 latency: tuple[int, int] = (0, 3), seed: int = 0, record: bool = False) -> None:
        self.params = params
        self.design = design if design is not None else build_walker(params)
        self.backend = rtl.resolve_backend(backend)
        self.sim = rtl.make_simulator(self.design.block, self.backend)
        self.words = (memory if memory is not None else Memory()).words
        self.latency = latency
        self.rng = random.Random(seed)
        self.record = record
        self.trace_in: list[dict[str, int]] = []
        self.trace_out: list[dict[str, int]] = []
        self.cycles = 0

    def load_memory(self, memory: Memory) -> None:
        """Answer reads from ``memory`` from now on."""
        self.words = memory.words

    def _cycle(self, inputs: dict[str, int]) -> dict[str, int]:
        self.sim.step(inputs)
        out = {name: self.sim.inspect(name) for name in OUTPUTS}
        self.cycles += 1
        if self.record:
            self.trace_in.append(dict(inputs))
            self.trace_out.append(out)
        return out

    def _idle(self) -> dict[str, int]:
        return dict.fromkeys(IDLE_INPUTS, 0)

    def reset(self) -> None:
        """One cycle with ``reset`` high: the power-on state."""
        self._cycle({**self._idle(), "reset": 1})

    def run(self, reqs: WalkBatch) -> WalkEvents:
        """Apply ``reqs`` in order, one at a time; return their events and references."""
        reqs.check(self.params)
        return WalkEvents.from_rows(self._one(reqs.row(i)) for i in range(len(reqs)))

    def walk(self, req) -> WalkEvent:
        """Apply one request."""
        return self.run(WalkBatch.from_requests([req])).row(0)

    def _one(self, req) -> WalkEvent:
        if req.op == WalkOp.NOP:
            return WalkEvent()
        inputs = {**self._idle(), "req_valid": 1, "req_op": req.op, "req_va": req.va,
                  "req_cr3": req.cr3, "req_eptp": req.eptp, "req_vm": req.vm,
                  "req_asid": req.asid}
        out = self._cycle(inputs)
        assert out["req_ready"], "the walker was busy at a request boundary"
        addrs: list[int] = []
        dims: list[int] = []
        pending: tuple[int, int] | None = None  # (cycles left, address)
        while True:
            inputs = self._idle()
            if pending is not None:
                left, addr = pending
                if left == 0:
                    inputs["mem_resp_valid"] = 1
                    inputs["mem_resp_data"] = self.words.get(addr, 0)
                    pending = None
                else:
                    pending = (left - 1, addr)
            out = self._cycle(inputs)
            if out["mem_req_valid"]:
                assert pending is None, "a second memory request while one is outstanding"
                addrs.append(out["mem_req_addr"])
                dims.append(out["mem_req_dim"])
                pending = (self.rng.randint(*self.latency), out["mem_req_addr"])
            if out["done"]:
                break
        fields = {f: out[port] for f, port in RESULT_PORTS.items()}
        return WalkEvent(**fields, refs=len(addrs), addrs=tuple(addrs), dims=tuple(dims))


def walker_verilog(params: WalkerParams) -> str:
    """Flat Verilog of the walker, top module ``walker``.

    >>> from hwmodels.pagewalk.params import NTLBParams, PWCParams
    >>> v = walker_verilog(WalkerParams(2, 2, PWCParams(0), PWCParams(0), NTLBParams(0, 0),
    ...                                 pa_bits=32, vm_bits=1, asid_bits=1))
    >>> v.count("module walker(")
    1
    """
    return rtl.export_verilog(build_walker(params).block, MODULE_NAME)


def walker_cost(params: WalkerParams, tech_nm: float = 130) -> rtl.CostReport:
    """Nets, estimated area and fmax of the walker (PyRTL estimators, see ``hwmodels.rtl``).

    >>> from hwmodels.pagewalk.params import NTLBParams, PWCParams
    >>> c = walker_cost(WalkerParams(2, 2, PWCParams(0), PWCParams(0), NTLBParams(0, 0),
    ...                              pa_bits=32, vm_bits=1, asid_bits=1))
    >>> c.nets > 100, c.fmax_mhz > 0
    (True, True)
    """
    return rtl.cost_report(build_walker(params).block, tech_nm)
