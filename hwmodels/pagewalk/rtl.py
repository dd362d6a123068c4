"""PyRTL page walker with its page-walk caches and nested TLB: the semantics of ``model``.

Structure. One FSM (``IDLE, G_PROBE, G_REQ, G_WAIT, H_PROBE, H_REQ, H_WAIT, DONE``) with one
outstanding memory request. ``G_*`` states walk the guest (or native) dimension, ``H_*`` states
translate one guest-physical address (a guest table's, or the data page's) through the host
table. The caches sit beside the FSM as register arrays probed combinationally (built by
``cache_rtl``, the same logic as the standalone ``codesign_pwc`` / ``codesign_ntlb``): the guest
page-walk cache in ``G_PROBE`` (once per walk), the nested TLB (for a guest page-table page's
translation, not the data page's) and then the nested page-walk cache in ``H_PROBE`` (once per
host translation). The guest page-walk cache holds guest entries as read -- in 2D a table's
guest-physical base -- so a hit in ``G_PROBE`` still leads to ``H_PROBE`` for the next table,
and every entry is filled in the cycle its read completes. Each cache level is fully
associative with LRU ranks; the nested TLB is set-associative with per-set LRU ranks (the
TLB's conventions: rank 0 most recent, power-on ranks by way, lowest invalid way first).
Every structure sees at most one touch or fill per cycle, and flushes happen only in
``IDLE``, so there are no write conflicts.

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
from dataclasses import dataclass

import pyrtl
from pyrtl import Const, Input, Output, Register, WireVector, concat, select

from hwmodels import rtl
from hwmodels.pagewalk.cache_rtl import NTLBLogic, PWCLogic, _drive, _first, _fit
from hwmodels.pagewalk.ops import EVENT_FIELDS, WalkBatch, WalkEvent, WalkEvents, WalkOp
from hwmodels.pagewalk.params import NTLBBlockParams, PWCBlockParams, WalkerParams
from hwmodels.pagewalk.tables import Memory

MODULE_NAME = "codesign_walker"
"""Top module name of the exported Verilog (stable across parameters)."""

IDLE, G_PROBE, G_REQ, G_WAIT, H_PROBE, H_REQ, H_WAIT, DONE = range(8)
RESULT_PORTS: dict[str, str] = {f: f"res_{f}" for f in EVENT_FIELDS if f != "refs"}
"""``WalkEvent`` field -> output port (``refs`` is counted from the memory requests)."""
OUTPUTS: tuple[str, ...] = ("req_ready", "mem_req_valid", "mem_req_addr", "mem_req_dim", "done",
                            *RESULT_PORTS.values())


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
            widths = {
                "state": 3, "nested": 1, "va": VA, "cr3": FW, "eptp": FW, "vm": p.vm_bits,
                "asid": p.asid_bits, "gl": 3, "gbase": FW, "gperm": 3, "gsize": 2,
                "hl": 3, "hbase": FW, "hperm": 3, "hgpa": PA, "hfinal": 1,
                "fault": 3, "level": 3, "step": 3, "frame": FW, "size": 2, "perms": 4,
                "gpwc": 3, "npwc": 3, "nhit": 3, "nmiss": 3}
            if p.agile:
                widths["agile"] = 1  # the walk in progress is an agile one
            R = {name: Register(bw, name, reset_value=0) for name, bw in widths.items()}
            nxt: dict[str, WireVector] = {}  # next-state values, default: hold

            def st(s: int) -> WireVector:
                return R["state"] == s

            def assign(name: str, cond: WireVector, value: WireVector | int) -> None:
                v = Const(value, len(R[name])) if isinstance(value, int) else value
                nxt[name] = select(cond, _fit(v, len(R[name])), nxt.get(name, R[name]))

            va, vm, asid = R["va"], R["vm"], R["asid"]
            x = _fit(R["hgpa"], XW)

            # --- caches ------------------------------------------------------------------
            # agile: the guest cache's entries carry a mode bit above the permissions
            gpwc = PWCLogic("gpwc", PWCBlockParams.of_walker(p, "guest"), reset, va, vm, asid,
                            perm_bits=4 if p.agile else 3)
            npwc = PWCLogic("npwc", PWCBlockParams.of_walker(p, "nested"), reset, x, vm, None)
            g_hit, g_lvl, g_base, g_perm = gpwc.hit, gpwc.level, gpwc.base, gpwc.perm
            n_hit, n_lvl, n_base, n_perm = npwc.hit, npwc.level, npwc.base, npwc.perm
            gpwc.lookup(st(G_PROBE))

            # The nested TLB serves guest page-table pages only (``hfinal`` low): the data
            # page's translation is the TLB's to keep (see ``model``).
            ntlb = None
            t_hit = Const(0, 1)
            if p.ntlb.enabled:
                ntlb = NTLBLogic("ntlb", NTLBBlockParams.of_walker(p), reset, x[12:], vm)
                t_hit = ntlb.hit & ~R["hfinal"]
                t_base, t_size, t_perm = ntlb.base, ntlb.size, ntlb.perm
                ntlb.lookup(st(H_PROBE) & ~R["hfinal"])
            npwc.lookup(st(H_PROBE) & ~t_hit)

            # --- IDLE: accept a request ---------------------------------------------------
            accept = st(IDLE) & req_valid
            is_walk = (req_op == int(WalkOp.NATIVE)) | (req_op == int(WalkOp.NESTED))
            if p.agile:
                is_walk = is_walk | (req_op == int(WalkOp.AGILE))
            is_flush = (req_op >= int(WalkOp.FLUSH_ALL)) & (req_op <= int(WalkOp.FLUSH_ASID))
            start = accept & is_walk
            for name, value in (("nested", req_op == int(WalkOp.NESTED)), ("va", req_va),
                                ("cr3", req_cr3[12:]), ("eptp", req_eptp[12:]), ("vm", req_vm),
                                ("asid", req_asid)):
                assign(name, start, value)
            if p.agile:
                assign("agile", start, req_op == int(WalkOp.AGILE))
            for name in ("fault", "level", "step", "frame", "size", "perms", "gpwc", "npwc",
                         "nhit", "nmiss"):
                assign(name, accept & (is_walk | is_flush), 0)
            assign("state", start, G_PROBE)
            assign("state", accept & is_flush, DONE)
            f_all = accept & (req_op == int(WalkOp.FLUSH_ALL))
            f_vm = accept & (req_op == int(WalkOp.FLUSH_VM))
            f_as = accept & (req_op == int(WalkOp.FLUSH_ASID))
            gpwc.flush(f_all, f_vm, f_as, req_vm, req_asid)
            npwc.flush(f_all, f_vm, f_as, req_vm, None)
            if ntlb is not None:
                ntlb.flush(f_all, f_vm, req_vm)

            # --- G_PROBE ------------------------------------------------------------------
            # The hit entry (or cr3) gives the next table's base as the guest entry states
            # it: guest-physical in 2D, so the table goes to a host translation first.
            gp = st(G_PROBE)
            g_next = select(g_hit, g_base, R["cr3"])
            assign("gpwc", gp, g_lvl)
            assign("gl", gp, select(g_hit, (g_lvl - 1)[:3], Const(ng, 3)))
            assign("gbase", gp, g_next)
            assign("gperm", gp, select(g_hit, g_perm[:3], Const(7, 3)))
            two_d = R["nested"]
            if p.agile:  # an agile walk resumes in the dimension its hit entry records
                two_d = select(R["agile"], g_hit & g_perm[3], R["nested"])
                assign("nested", gp & R["agile"], two_d)
            to_host = gp & two_d
            assign("hgpa", to_host, concat(g_next, Const(0, 12)))
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
            # below: two dimensions (nested, or an agile walk at a switch entry)
            below = R["nested"]
            if p.agile:
                switch = R["agile"] & ~R["nested"] & e[52]  # tables.SWITCH
                below = R["nested"] | switch
                assign("nested", inner & switch, 1)
            assign("gl", inner, (gl - 1)[:3])
            assign("gbase", inner & ~below, e_frame)
            assign("state", inner & ~below, G_REQ)
            assign("hgpa", inner & below, concat(e_frame, Const(0, 12)))
            assign("hfinal", inner & below, 0)
            assign("state", (inner & below) | (leaf_nested & R["nested"]), H_PROBE)

            # --- H_PROBE: nested TLB, then nested page-walk cache ---------------------------
            hp = st(H_PROBE)
            if ntlb is not None:
                assign("nhit", hp & t_hit, (R["nhit"] + 1)[:3])
                assign("nmiss", hp & ~R["hfinal"] & ~t_hit, (R["nmiss"] + 1)[:3])
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
                ntlb.fill(h_done & ~R["hfinal"], h_page, (hl - 1)[:2], h_newperm)

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

            # --- page-walk cache fills: an entry right after it is read -----------------------
            gpwc.fill(inner, gl, e_frame,
                      concat(R["agile"] & below, g_newperm) if p.agile else g_newperm)
            npwc.fill(h_inner, hl, e_frame, h_newperm)

            assign("state", st(DONE), IDLE)
            for cache in (gpwc, npwc, *([ntlb] if ntlb else [])):
                cache.finish()
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
        self.memory = memory if memory is not None else Memory()
        self.latency = latency
        self.rng = random.Random(seed)
        self.record = record
        self.trace_in: list[dict[str, int]] = []
        self.trace_out: list[dict[str, int]] = []
        self.cycles = 0

    def load_memory(self, memory: Memory) -> None:
        """Answer reads from ``memory`` (live: later writes are seen) from now on."""
        self.memory = memory

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
                    inputs["mem_resp_data"] = self.memory.read(addr)
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
    """Flat Verilog of the walker, top module ``codesign_walker``, its header listing the
    ports and the operation codes (:class:`~hwmodels.pagewalk.ops.WalkOp`).

    >>> from hwmodels.pagewalk.params import NTLBParams, PWCParams
    >>> v = walker_verilog(WalkerParams(2, 2, PWCParams(0), PWCParams(0), NTLBParams(0, 0),
    ...                                 pa_bits=32, vm_bits=1, asid_bits=1))
    >>> v.count("module codesign_walker(")
    1
    """
    return rtl.export_verilog(build_walker(params).block, MODULE_NAME, codes=(WalkOp,))


def walker_cost(params: WalkerParams, tech_nm: float = 130) -> rtl.CostReport:
    """Nets, estimated area and fmax of the walker (PyRTL estimators, see ``hwmodels.rtl``).

    >>> from hwmodels.pagewalk.params import NTLBParams, PWCParams
    >>> c = walker_cost(WalkerParams(2, 2, PWCParams(0), PWCParams(0), NTLBParams(0, 0),
    ...                              pa_bits=32, vm_bits=1, asid_bits=1))
    >>> c.nets > 100, c.fmax_mhz > 0
    (True, True)
    """
    return rtl.cost_report(build_walker(params).block, tech_nm)
