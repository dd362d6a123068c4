"""PyRTL page-walk cache and nested TLB: built once, into the walker or into a block of their own.

:class:`PWCLogic` (one dimension's page-walk cache, levels ``2 .. levels`` probed at once) and
:class:`NTLBLogic` (the nested TLB) build into the *current working block*: the owner gives the
key wires, reads the probe result, says what the cycle does (``lookup`` / ``fill`` / ``flush``)
and calls ``finish`` to wire the registers. The walker (``hwmodels.pagewalk.rtl``) owns two
``PWCLogic`` and one ``NTLBLogic``; :func:`build_pwc` / :func:`build_ntlb` wrap one of each in a
``temp_working_block`` with ports of their own. The semantics are ``hwmodels.pagewalk.model``'s
(see ``hwmodels.pagewalk.caches`` for the standalone operations and events).

Timing of the standalone blocks. One operation per clock cycle; its events are outputs of the
cycle it is applied in (a combinational read of the registered state), the state update lands
on the next edge. ``reset`` (synchronous) restores the power-on state -- every entry invalid,
LRU ranks by way -- which is also every register's ``reset_value``.

Ports of ``codesign_pwc`` (module name stable across parameters): inputs ``reset``, ``op`` (3,
a ``CacheOp``), ``addr``, ``vm``, ``asid`` (guest dimension only), ``level`` (3), ``base``
(``pa_bits - 12``), ``perm`` (3); outputs ``ev_hit``, ``ev_level``, ``ev_way``, ``ev_base``,
``ev_perm``, ``ev_evict``, ``ev_inv`` (the ``PWCEvent`` fields). Ports of ``codesign_ntlb``:
inputs ``reset``, ``op``, ``page`` (``gpa_bits - 12``), ``vm``, ``base``, ``size`` (2),
``perm`` (3); outputs ``ev_hit``, ``ev_way``, ``ev_base``, ``ev_size``, ``ev_perm``,
``ev_evict``, ``ev_inv`` (the ``NTLBEvent`` fields).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyrtl
from pyrtl import Const, Input, Output, Register, WireVector, select

from hwmodels import rtl
from hwmodels.pagewalk.caches import (
    NTLBEvent,
    PWCEvent,
    check_ntlb_ops,
    check_pwc_ops,
)
from hwmodels.pagewalk.ops import CacheOp
from hwmodels.pagewalk.params import NTLBBlockParams, PWCBlockParams

PWC_MODULE = "codesign_pwc"
"""Top module name of the exported page-walk-cache Verilog (stable across parameters)."""
NTLB_MODULE = "codesign_ntlb"
"""Top module name of the exported nested-TLB Verilog (stable across parameters)."""
PWC_PORTS: dict[str, str] = {f: f"ev_{f}" for f in PWCEvent._fields}
"""``PWCEvent`` field -> output port."""
NTLB_PORTS: dict[str, str] = {f: f"ev_{f}" for f in NTLBEvent._fields}
"""``NTLBEvent`` field -> output port."""


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


def _any(bits: Sequence[WireVector]) -> WireVector:
    return pyrtl.rtl_any(*bits) if bits else Const(0, 1)


def _index(hot: Sequence[WireVector], width: int) -> WireVector:
    """Index of the set bit of a one-hot mask (0 when none is set)."""
    return _onehot_pick(hot, [Const(i, width) for i in range(len(hot))])


def _popcount(bits: Sequence[WireVector], width: int) -> WireVector:
    terms: list[WireVector] = list(bits) or [Const(0, 1)]
    while len(terms) > 1:
        pairs = [a + b for a, b in zip(terms[::2], terms[1::2], strict=False)]
        terms = pairs + terms[len(pairs) * 2:]
    return _fit(terms[0], width)


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
        self.fill_evicts: WireVector = Const(0, 1)
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
        self.fill_evicts = ~any_invalid  # the victim is valid exactly when no way is free
        self.touch(en, victim)

    def flush(self, cond: Callable[[dict[str, WireVector]], WireVector]) -> None:
        """Clear every valid entry for which ``cond(entry_fields)`` is true."""
        self.clear = [[cond(self.e[s][w]) for w in range(self.ways)] for s in range(self.sets)]

    def cleared(self) -> list[WireVector]:
        """Per entry: valid and cleared by this cycle's flush."""
        return [self.e[s][w]["valid"] & self.clear[s][w]
                for s in range(self.sets) for w in range(self.ways)]

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


def _tag_of(addr: WireVector, L: int) -> WireVector:
    """The address bits above the level-``L`` index's low end: a level-``L`` cache's key."""
    lo = 12 + 9 * (L - 1)
    return addr[lo:] if lo < len(addr) else Const(0, 1)


class PWCLogic:
    """One dimension's page-walk cache, built into the current working block.

    Every level with entries is a fully associative ``_Array``; a probe looks at all levels
    at once and the lowest level that holds the key wins (its lowest matching entry). After
    construction ``hit``, ``level`` (0 on a miss), ``base`` (host frame of the next table),
    ``perm`` and ``way`` are the probe result for key (``addr``, ``vm``, ``asid``); ``lookup``
    touches the winner's LRU order, ``fill`` writes level ``level``'s entry for the same key,
    ``flush`` clears by tags; ``finish`` wires the registers.

    >>> with pyrtl.temp_working_block():
    ...     p = PWCBlockParams(levels=2, addr_bits=30, pa_bits=32, vm_bits=1, asid_bits=1)
    ...     w = {n: pyrtl.Input(b, n) for n, b in (("addr", 30), ("vm", 1), ("asid", 1))}
    ...     pwc = PWCLogic("pwc", p, pyrtl.Input(1, "reset"), w["addr"], w["vm"], w["asid"])
    ...     sorted(pwc.arrays), len(pwc.level)
    ([2], 3)
    """

    def __init__(self, name: str, p: PWCBlockParams, reset: WireVector, addr: WireVector,
                 vm: WireVector, asid: WireVector | None, perm_bits: int = 3) -> None:
        assert len(addr) == p.addr_bits and (asid is None) == (p.asid_bits == 0)
        self.p, self.addr, self.vm, self.asid = p, addr, vm, asid
        self.perm_bits = perm_bits  # 4 in an agile walker's guest cache: the mode bit
        fw = p.pa_bits - 12
        self.arrays: dict[int, _Array] = {}
        for L in range(2, p.levels + 1):
            n = p.pwc.at(L)
            if not n:
                continue
            fields = {"vm": p.vm_bits, "tag": max(len(addr) - (12 + 9 * (L - 1)), 1),
                      "base": fw, "perm": perm_bits}
            if asid is not None:
                fields["asid"] = p.asid_bits
            with pyrtl.name_scope(f"{name}_l{L}"):
                arr = _Array(f"{name}{L}", 1, n, fields, reset)
            arr.use_set(None)
            self.arrays[L] = arr
        self.way_bits = max(1, _clog2(max([*(p.pwc.at(L) for L in self.arrays), 1])))

        key = {"vm": vm} if asid is None else {"vm": vm, "asid": asid}
        hits, probes = [], []
        for L, arr in self.arrays.items():
            hit, hot = arr.probe({**key, "tag": _tag_of(addr, L)})
            hits.append(hit)
            probes.append((L, arr, hot))
        first = _lowest(hits)
        self._winner = list(zip(first, probes, strict=True))
        self.hit = _any(hits)
        self.level = _first(first, [Const(L, 3) for L, *_ in probes], Const(0, 3))
        self.base = _first(first, [a.read(h, "base") for _, a, h in probes], Const(0, fw))
        self.perm = _first(first, [a.read(h, "perm") for _, a, h in probes],
                           Const(0, perm_bits))
        self._fill_level: WireVector = Const(0, 3)

    @property
    def way(self) -> WireVector:
        """Entry index of the probe's winner within its level (0 on a miss)."""
        return _first([c for c, _ in self._winner],
                      [_index(h, self.way_bits) for _, (_, _, h) in self._winner],
                      Const(0, self.way_bits))

    def lookup(self, en: WireVector) -> None:
        """When ``en``, the probe's winner becomes its level's most recently used entry."""
        for chosen, (_, arr, hot) in self._winner:
            arr.touch(en & chosen, hot)

    def fill(self, en: WireVector, level: WireVector, base: WireVector,
             perm: WireVector) -> None:
        """When ``en``, write the key's level-``level`` entry (a level without entries: none)."""
        self._fill_level = level
        for L, arr in self.arrays.items():
            vals = {"vm": self.vm, "tag": _tag_of(self.addr, L), "base": base, "perm": perm}
            if self.asid is not None:
                vals["asid"] = self.asid
            arr.fill(en & (level == L), vals)

    def fill_way(self) -> tuple[WireVector, WireVector]:
        """(entry index ``fill`` writes, whether it held a valid entry) at the fill level."""
        sel = [self._fill_level == L for L in self.arrays]
        arrs = list(self.arrays.values())
        way = _first(sel, [_index(a.fill_way, self.way_bits) for a in arrs],
                     Const(0, self.way_bits))
        return way, _first(sel, [a.fill_evicts for a in arrs], Const(0, 1))

    def flush(self, every: WireVector, by_vm: WireVector, by_asid: WireVector,
              vm: WireVector, asid: WireVector | None) -> None:
        """Clear all entries, those of VM ``vm``, or (guest dimension) those of (vm, asid)."""
        for arr in self.arrays.values():
            if self.asid is None:
                arr.flush(lambda e: every | (by_vm & (e["vm"] == vm)))
            else:
                arr.flush(lambda e: every | ((by_vm | (by_asid & (e["asid"] == asid)))
                                             & (e["vm"] == vm)))

    def cleared(self) -> list[WireVector]:
        """Per entry: valid and cleared by this cycle's flush."""
        return [c for arr in self.arrays.values() for c in arr.cleared()]

    def finish(self) -> None:
        """Wire the registers (after every ``lookup``/``fill``/``flush`` of the cycle)."""
        for arr in self.arrays.values():
            arr.finish()


class NTLBLogic:
    """The nested TLB, built into the current working block.

    After construction ``hit``, ``way``, ``base`` (host frame of the 4 KiB page), ``size``
    (host size class) and ``perm`` are the probe result for (``vm``, ``page``), ``page`` the
    guest-physical page number whose low ``set_bits`` pick the set; then ``lookup``, ``fill``,
    ``flush`` and ``finish`` as for :class:`PWCLogic`.

    >>> from hwmodels.pagewalk.params import NTLBParams
    >>> with pyrtl.temp_working_block():
    ...     p = NTLBBlockParams(NTLBParams(4, 2), gpa_bits=30, pa_bits=32, vm_bits=1)
    ...     t = NTLBLogic("ntlb", p, pyrtl.Input(1, "reset"), pyrtl.Input(18, "page"),
    ...                   pyrtl.Input(1, "vm"))
    ...     len(t.arr.e), len(t.base)
    (2, 20)
    """

    def __init__(self, name: str, p: NTLBBlockParams, reset: WireVector, page: WireVector,
                 vm: WireVector) -> None:
        assert p.ntlb.enabled and len(page) == p.page_bits
        self.p, self.vm = p, vm
        sb = p.ntlb.set_bits
        with pyrtl.name_scope(name):
            self.arr = _Array(name, p.ntlb.sets, p.ntlb.ways,
                              {"vm": p.vm_bits, "tag": max(len(page) - sb, 1),
                               "base": p.pa_bits - 12, "size": 2, "perm": 3}, reset)
        self.arr.use_set(page[:sb] if sb else None)
        self.tag = page[sb:] if sb < len(page) else Const(0, 1)
        self.hit, self._hot = self.arr.probe({"vm": vm, "tag": self.tag})
        self.base, self.size, self.perm = (self.arr.read(self._hot, f)
                                           for f in ("base", "size", "perm"))
        self.way_bits = max(1, _clog2(p.ntlb.ways))

    @property
    def way(self) -> WireVector:
        """Way of the probe's hit (0 on a miss)."""
        return _index(self._hot, self.way_bits)

    def lookup(self, en: WireVector) -> None:
        """When ``en`` and the probe hits, its way becomes the set's most recently used."""
        self.arr.touch(en & self.hit, self._hot)

    def fill(self, en: WireVector, base: WireVector, size: WireVector, perm: WireVector) -> None:
        """When ``en``, write (vm, page) -> (base, size, perm) into the page's set."""
        self.arr.fill(en, {"vm": self.vm, "tag": self.tag, "base": base, "size": size,
                           "perm": perm})

    def fill_way(self) -> tuple[WireVector, WireVector]:
        """(way ``fill`` writes, whether it held a valid entry)."""
        return _index(self.arr.fill_way, self.way_bits), self.arr.fill_evicts

    def flush(self, every: WireVector, by_vm: WireVector, vm: WireVector) -> None:
        """Clear all entries, or those of VM ``vm``."""
        self.arr.flush(lambda e: every | (by_vm & (e["vm"] == vm)))

    def cleared(self) -> list[WireVector]:
        """Per entry: valid and cleared by this cycle's flush."""
        return self.arr.cleared()

    def finish(self) -> None:
        """Wire the registers."""
        self.arr.finish()


@dataclass(frozen=True)
class CacheDesign:
    """A built standalone cache block and its port widths."""

    params: PWCBlockParams | NTLBBlockParams
    block: pyrtl.Block
    inputs: dict[str, int]
    outputs: dict[str, int]


def _outputs(outs: dict[str, WireVector]) -> None:
    for name, value in outs.items():
        port = Output(len(value), name)
        port <<= value


def _design(params: PWCBlockParams | NTLBBlockParams, block: pyrtl.Block) -> CacheDesign:
    block.sanity_check()
    return CacheDesign(params, block,
                       {w.name: w.bitwidth for w in block.wirevector_subset(Input)},
                       {w.name: w.bitwidth for w in block.wirevector_subset(Output)})


def build_pwc(params: PWCBlockParams) -> CacheDesign:
    """Build one dimension's page-walk cache with ports of its own, in its own PyRTL block.

    >>> d = build_pwc(PWCBlockParams(levels=2, addr_bits=30, pa_bits=32, vm_bits=1,
    ...                              asid_bits=1))
    >>> d.inputs["addr"], d.outputs["ev_base"], d.outputs["ev_inv"]
    (30, 20, 6)
    """
    p = params
    fw = p.pa_bits - 12
    total = sum(p.entries)
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        reset, op = Input(1, "reset"), Input(3, "op")
        addr, vm = Input(p.addr_bits, "addr"), Input(p.vm_bits, "vm")
        asid = Input(p.asid_bits, "asid") if p.asid_bits else None
        level, base, perm = Input(3, "level"), Input(fw, "base"), Input(3, "perm")
        pwc = PWCLogic("pwc", p, reset, addr, vm, asid)
        is_lookup, is_fill = op == int(CacheOp.LOOKUP), op == int(CacheOp.FILL)
        pwc.lookup(is_lookup)
        pwc.fill(is_fill, level, base, perm)
        pwc.flush(op == int(CacheOp.FLUSH_ALL), op == int(CacheOp.FLUSH_VM),
                  op == int(CacheOp.FLUSH_ASID), vm, asid)
        pwc.finish()
        # The probe runs every cycle; events show it only for lookups (others read 0).
        hit = is_lookup & pwc.hit
        fill_way, evicts = pwc.fill_way()
        zero = Const(0, pwc.way_bits)
        _outputs({
            "ev_hit": hit,
            "ev_level": select(hit, pwc.level, Const(0, 3)),
            "ev_way": select(hit, pwc.way, select(is_fill, fill_way, zero)),
            "ev_base": select(hit, pwc.base, Const(0, fw)),
            "ev_perm": select(hit, pwc.perm, Const(0, 3)),
            "ev_evict": is_fill & evicts,
            "ev_inv": _popcount(pwc.cleared(), max(1, total.bit_length())),
        })
    return _design(p, block)


def build_ntlb(params: NTLBBlockParams) -> CacheDesign:
    """Build the nested TLB with ports of its own, in its own PyRTL block.

    A disabled nested TLB (0 entries) is a block whose events are all 0.

    >>> from hwmodels.pagewalk.params import NTLBParams
    >>> d = build_ntlb(NTLBBlockParams(NTLBParams(4, 2), gpa_bits=30, pa_bits=32, vm_bits=1))
    >>> d.inputs["page"], d.outputs["ev_way"], d.outputs["ev_inv"]
    (18, 1, 3)
    """
    p = params
    fw = p.pa_bits - 12
    n = p.ntlb
    with pyrtl.temp_working_block():
        block = pyrtl.working_block()
        reset, op = Input(1, "reset"), Input(3, "op")
        page, vm = Input(p.page_bits, "page"), Input(p.vm_bits, "vm")
        base, size, perm = Input(fw, "base"), Input(2, "size"), Input(3, "perm")
        way_bits = max(1, _clog2(n.ways))
        if not n.enabled:
            # The inputs stay ports so the interface does not depend on the size.
            _outputs({"ev_hit": Const(0, 1), "ev_way": Const(0, way_bits),
                      "ev_base": Const(0, fw), "ev_size": Const(0, 2), "ev_perm": Const(0, 3),
                      "ev_evict": Const(0, 1), "ev_inv": Const(0, 1)})
            return _design(p, block)
        ntlb = NTLBLogic("ntlb", p, reset, page, vm)
        is_lookup, is_fill = op == int(CacheOp.LOOKUP), op == int(CacheOp.FILL)
        ntlb.lookup(is_lookup)
        ntlb.fill(is_fill, base, size, perm)
        ntlb.flush(op == int(CacheOp.FLUSH_ALL), op == int(CacheOp.FLUSH_VM), vm)
        ntlb.finish()
        hit = is_lookup & ntlb.hit
        fill_way, evicts = ntlb.fill_way()
        _outputs({
            "ev_hit": hit,
            "ev_way": select(hit, ntlb.way, select(is_fill, fill_way, Const(0, way_bits))),
            "ev_base": select(hit, ntlb.base, Const(0, fw)),
            "ev_size": select(hit, ntlb.size, Const(0, 2)),
            "ev_perm": select(hit, ntlb.perm, Const(0, 3)),
            "ev_evict": is_fill & evicts,
            "ev_inv": _popcount(ntlb.cleared(), n.entries.bit_length()),
        })
    return _design(p, block)


class _CacheSim:
    """Driver and monitor of a standalone cache block: one operation per cycle."""

    ports: dict[str, str]  # event field -> output port
    event: type  # the event NamedTuple
    check: Callable[..., None]  # operand check of the block's operations

    def __init__(self, design: CacheDesign, backend: str) -> None:
        self.design = design
        self.params = design.params
        self.backend = rtl.resolve_backend(backend)
        self.sim = rtl.make_simulator(design.block, self.backend)

    def stimulus(self, ops: Sequence, reset: bool = False) -> list[dict[str, int]]:
        """Input dicts, one cycle per operation (after one ``reset`` cycle if asked)."""
        type(self).check(self.params, ops)
        names = [n for n in self.design.inputs if n != "reset"]
        stim = [{**dict.fromkeys(names, 0), "reset": 1}] if reset else []
        stim += [{**{n: int(getattr(o, n)) for n in names}, "reset": 0} for o in ops]
        return stim

    def run(self, ops: Sequence, reset: bool = False) -> list:
        """Apply ``ops`` (one per cycle); one event per operation (state carries over)."""
        stim = self.stimulus(ops, reset)
        out = rtl.run_stimulus(self.sim, stim, list(self.ports.values()))
        skip = 1 if reset else 0
        return [self.event(*(out[port][i] for port in self.ports.values()))
                for i in range(skip, len(stim))]


class PWCSim(_CacheSim):
    """``codesign_pwc`` on a PyRTL simulator; the same ``run`` as ``PWCModel``.

    >>> from hwmodels.pagewalk.caches import PWCOp
    >>> sim = PWCSim(PWCBlockParams(levels=2, addr_bits=30, pa_bits=32, vm_bits=1,
    ...                             asid_bits=1))
    >>> [e.hit for e in sim.run([PWCOp.fill(1 << 21, 2, 5), PWCOp.lookup(1 << 21)])]
    [0, 1]
    """

    ports = PWC_PORTS
    event = PWCEvent
    check = staticmethod(check_pwc_ops)

    def __init__(self, params: PWCBlockParams, backend: str = "fast",
                 design: CacheDesign | None = None) -> None:
        super().__init__(design if design is not None else build_pwc(params), backend)


class NTLBSim(_CacheSim):
    """``codesign_ntlb`` on a PyRTL simulator; the same ``run`` as ``NTLBModel``.

    >>> from hwmodels.pagewalk.caches import NTLBOp
    >>> sim = NTLBSim(NTLBBlockParams(gpa_bits=32, pa_bits=32, vm_bits=1))
    >>> [(e.hit, e.base) for e in sim.run([NTLBOp.fill(3, 9), NTLBOp.lookup(3)])]
    [(0, 0), (1, 9)]
    """

    ports = NTLB_PORTS
    event = NTLBEvent
    check = staticmethod(check_ntlb_ops)

    def __init__(self, params: NTLBBlockParams, backend: str = "fast",
                 design: CacheDesign | None = None) -> None:
        super().__init__(design if design is not None else build_ntlb(params), backend)


def pwc_verilog(params: PWCBlockParams) -> str:
    """Flat Verilog of one dimension's page-walk cache, top module ``codesign_pwc``.

    >>> v = pwc_verilog(PWCBlockParams(levels=2, addr_bits=30, pa_bits=32, vm_bits=1,
    ...                                asid_bits=1))
    >>> v.count("module codesign_pwc(")
    1
    """
    return rtl.export_verilog(build_pwc(params).block, PWC_MODULE, codes=(CacheOp,))


def pwc_cost(params: PWCBlockParams, tech_nm: float = 130) -> rtl.CostReport:
    """Nets, estimated area and fmax of one dimension's page-walk cache (PyRTL estimators).

    >>> c = pwc_cost(PWCBlockParams(levels=2, addr_bits=30, pa_bits=32, vm_bits=1,
    ...                             asid_bits=1))
    >>> c.register_bits > 0, c.fmax_mhz > 0
    (True, True)
    """
    return rtl.cost_report(build_pwc(params).block, tech_nm)


def ntlb_verilog(params: NTLBBlockParams) -> str:
    """Flat Verilog of the nested TLB, top module ``codesign_ntlb``.

    >>> v = ntlb_verilog(NTLBBlockParams(gpa_bits=32, pa_bits=32, vm_bits=1))
    >>> v.count("module codesign_ntlb(")
    1
    """
    return rtl.export_verilog(build_ntlb(params).block, NTLB_MODULE, codes=(CacheOp,))


def ntlb_cost(params: NTLBBlockParams, tech_nm: float = 130) -> rtl.CostReport:
    """Nets, estimated area and fmax of the nested TLB (PyRTL estimators).

    >>> c = ntlb_cost(NTLBBlockParams(gpa_bits=32, pa_bits=32, vm_bits=1))
    >>> c.register_bits > 0, c.fmax_mhz > 0
    (True, True)
    """
    return rtl.cost_report(build_ntlb(params).block, tech_nm)
