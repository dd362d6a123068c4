"""Roles of the standalone cache tests (page-walk cache, nested TLB), named as in cocotb.

- **driver**: ``pwc_ops`` / ``ntlb_ops`` turn a seed into an operation mix over a small pool of
  keys (so lookups hit, fills evict, flushes clear); ``pwc_trace_ops`` / ``ntlb_trace_ops`` turn
  a real memory trace (gzip, lackey) into what a walker asks of each cache;
- **reference**: ``PWCModel`` / ``NTLBModel``, the behavioural twins (the walker's own helpers);
- **monitor**: ``PWCSim`` / ``NTLBSim`` recording the RTL block's events per operation;
- **scoreboard**: ``assert_same_events``, comparing the two in order, operation by operation.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

import pytest

from hwmodels.pagewalk import NTLBParams, PWCParams
from hwmodels.pagewalk.cache_rtl import NTLBSim, PWCSim, build_ntlb, build_pwc
from hwmodels.pagewalk.caches import CacheOp, NTLBModel, NTLBOp, PWCModel, PWCOp
from hwmodels.pagewalk.params import NTLBBlockParams, PWCBlockParams
from hwmodels.rtl import have_c_compiler
from tests.hwmodels.tlb_harness import read_lackey

LEVELS = ("model", "fast", "compiled")
"""The behavioural twin and the RTL block on both fast PyRTL backends (parity)."""

# Small blocks keep simulation cheap; together they cover both dimensions, every height 2..5,
# disabled levels, one-entry levels, and narrow and full-width addresses and tags.
PWC_CONFIGS: dict[str, PWCBlockParams] = {
    "guest4": PWCBlockParams(PWCParams((3, 2, 1, 1)), "guest", 4, 48, 36, 2, 1),
    "nested3": PWCBlockParams(PWCParams((2, 0, 1, 1)), "nested", 3, 32, 32, 2),
    "guest5_wide": PWCBlockParams(PWCParams((4, 1, 0, 2)), "guest", 5, 57, 52, 16, 12),
    "nested2": PWCBlockParams(PWCParams(1), "nested", 2, 30, 40, 1),
    "default": PWCBlockParams(),
}
# Direct-mapped, set-associative, fully associative; narrow and full-width.
NTLB_CONFIGS: dict[str, NTLBBlockParams] = {
    "4x2": NTLBBlockParams(NTLBParams(4, 2), 32, 32, 2),
    "direct": NTLBBlockParams(NTLBParams(4, 1), 30, 36, 1),
    "fa_wide": NTLBBlockParams(NTLBParams(8, 8), 57, 52, 16),
    "default": NTLBBlockParams(),
}


@functools.cache
def _sim(kind: str, params: PWCBlockParams | NTLBBlockParams, backend: str) -> PWCSim | NTLBSim:
    # One design and simulator per (params, backend); runs start with a reset cycle.
    if kind == "pwc":
        return PWCSim(params, backend, design=_design("pwc", params))  # type: ignore[arg-type]
    return NTLBSim(params, backend, design=_design("ntlb", params))  # type: ignore[arg-type]


@functools.cache
def _design(kind: str, params: PWCBlockParams | NTLBBlockParams):
    return build_pwc(params) if kind == "pwc" else build_ntlb(params)  # type: ignore[arg-type]


class Fresh:
    """An RTL block in its power-on state: the first ``run`` starts with a reset cycle."""

    def __init__(self, sim: PWCSim | NTLBSim) -> None:
        self.sim, self.first = sim, True

    def run(self, ops: Sequence) -> list:
        events = self.sim.run(ops, reset=self.first)
        self.first = False
        return events


def make_block(kind: str, params: PWCBlockParams | NTLBBlockParams, level: str):
    """The block at ``level`` (``"model"``, ``"fast"``, ``"compiled"``), power-on state."""
    if level == "model":
        return PWCModel(params) if kind == "pwc" else NTLBModel(params)  # type: ignore[arg-type]
    if level == "compiled" and not have_c_compiler():
        pytest.skip("CompiledSimulation needs gcc on PATH")
    return Fresh(_sim(kind, params, level))


def design(kind: str, params: PWCBlockParams | NTLBBlockParams):
    """The built block (shared by the tests of a session)."""
    return _design(kind, params)


def pwc_ops(p: PWCBlockParams, n: int, seed: int) -> list[PWCOp]:
    """A random mix over a few address regions, two VMs and two address spaces."""
    rng = random.Random(seed)
    top = 1 << p.addr_bits
    # Neighbours of a few bases share upper-level prefixes, so several levels can hold a key.
    bases = [rng.randrange(top) for _ in range(3)]
    pool = [(b ^ (rng.randrange(1 << rng.choice([21, 30, 39, 48]))) & ~0xFFF) % top
            for b in bases for _ in range(4)]
    fw = p.pa_bits - 12
    ops = []
    for _ in range(n):
        r = rng.random()
        # Mostly one (VM, ASID), so keys recur; the others and the widest tags still show up.
        addr, vm = rng.choice(pool), rng.choice([1] * 6 + [0, (1 << p.vm_bits) - 1])
        asid = rng.choice([0] * 4 + [1, (1 << p.asid_bits) - 1]) if p.asid_bits else 0
        if r < 0.45:
            ops.append(PWCOp.lookup(addr, vm, asid))
        elif r < 0.88:
            ops.append(PWCOp.fill(addr, rng.randint(2, p.levels), rng.randrange(1 << fw),
                                  rng.randrange(8), vm, asid))
        elif r < 0.9:
            ops.append(PWCOp(CacheOp.NOP, addr, vm, asid))
        else:
            kind = rng.choice([CacheOp.FLUSH_ALL, CacheOp.FLUSH_VM, CacheOp.FLUSH_ASID,
                               CacheOp.FLUSH_ASID])
            ops.append(PWCOp.flush(kind, vm, asid))
    return ops


def ntlb_ops(p: NTLBBlockParams, n: int, seed: int) -> list[NTLBOp]:
    """A random mix over a pool of about twice as many pages as entries, two VMs."""
    rng = random.Random(seed)
    top = 1 << p.page_bits
    pool = [rng.randrange(top) for _ in range(max(2, 2 * p.ntlb.entries))]
    fw = p.pa_bits - 12
    ops = []
    for _ in range(n):
        r = rng.random()
        page, vm = rng.choice(pool), rng.choice([1] * 6 + [0, (1 << p.vm_bits) - 1])
        if r < 0.5:
            ops.append(NTLBOp.lookup(page, vm))
        elif r < 0.88:
            ops.append(NTLBOp.fill(page, rng.randrange(1 << fw), rng.randrange(3),
                                   rng.randrange(8), vm))
        elif r < 0.9:
            ops.append(NTLBOp(CacheOp.NOP, page, vm))
        else:
            kind = rng.choice([CacheOp.FLUSH_ALL, CacheOp.FLUSH_VM, CacheOp.FLUSH_ASID])
            ops.append(NTLBOp.flush(kind, vm))
    return ops


def _apply(model: PWCModel | NTLBModel, ops: list) -> list:
    model.run(ops)
    return ops


def _frame(key: int, fw: int) -> int:
    return (key * 0x9E3779B1 + 0x1000) % (1 << fw)


def pwc_trace_ops(p: PWCBlockParams, n: int = 1500) -> list[PWCOp]:
    """What a walker asks of its page-walk cache on the gzip trace's first ``n`` references.

    Every reference is a walk (as if each missed the TLB): a lookup, then fills of the levels
    below the hit (all levels on a miss) with the next tables' frames. The guest switches
    address space every 400 references (an ASID flush of the one it leaves) and a second VM
    (0) runs a few walks every 300. The fills depend on the lookups' outcome, which the reference
    decides (the stimulus is fixed before the design sees it).
    """
    model = PWCModel(p)
    fw = p.pa_bits - 12
    mask = (1 << p.addr_bits) - 1
    ops: list[PWCOp] = []
    for i, va in enumerate(int(a) for a in read_lackey()[:n]):
        asid = (i // 400) % 2 if p.asid_bits else 0
        if i and i % 400 == 0:
            ops += _apply(model, [PWCOp.flush(CacheOp.FLUSH_ASID, 1, 1 - asid)])
        vm = 0 if i % 300 >= 290 else 1
        addr = va & mask & ~0xFFF
        look = PWCOp.lookup(addr, vm, asid)
        hit = model.run([look])[0]
        walk = [look]
        for L in range((hit.level - 1) if hit.hit else p.levels, 1, -1):
            key = addr >> (12 + 9 * (L - 1))
            walk.append(PWCOp.fill(addr, L, _frame(key * 8 + L, fw), 7 - (key & 2), vm, asid))
        model.run(walk[1:])
        ops += walk
    return ops


def ntlb_trace_ops(p: NTLBBlockParams, n: int = 1500) -> list[NTLBOp]:
    """What a walker asks of its nested TLB on the gzip trace's first ``n`` references.

    Each reference's guest-physical page (here: its address, guest memory identity-mapped
    into ``gpa_bits``) is looked up; a miss is followed by the fill a host walk makes, with
    2 MiB host pages for the stack region. VM 0 runs every 300 references and is flushed
    (its VPID recycled) when it leaves.
    """
    model = NTLBModel(p)
    fw = p.pa_bits - 12
    ops: list[NTLBOp] = []
    for i, a in enumerate(int(a) for a in read_lackey()[:n]):
        vm = 0 if i % 300 >= 290 else 1
        if i and i % 300 == 0:
            ops += _apply(model, [NTLBOp.flush(CacheOp.FLUSH_VM, 0)])
        page = (a >> 12) % (1 << p.page_bits)
        look = NTLBOp.lookup(page, vm)
        ops.append(look)
        if not model.run([look])[0].hit:
            fill = NTLBOp.fill(page, _frame(page, fw), 1 if a >= 1 << 36 else 0, 7, vm)
            model.run([fill])
            ops.append(fill)
    return ops


def assert_same_events(ops: Sequence, expected: Sequence, actual: Sequence, label: str) -> None:
    """Scoreboard: identical events operation by operation, or the first difference."""
    for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
        if want != got:
            context = "\n".join(f"  {j}: {ops[j]}" for j in range(max(0, i - 4), i))
            raise AssertionError(
                f"{label}: events differ at operation {i} of {len(ops)}\n"
                f"preceding operations:\n{context}\n"
                f"operation: {ops[i]}\nreference: {want}\ndesign:    {got}")


def counts(events: Sequence, field: str) -> int:
    """How many events have a non-zero ``field`` (to check a run is not vacuous)."""
    return sum(1 for e in events if getattr(e, field))


