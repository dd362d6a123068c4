"""Roles of the TLB differential tests, named as in cocotb.

- **driver**: turns a source of stimulus (a hypothesis draw, a recorded memory trace) into an
  ``OpBatch``;
- **reference**: ``TLBModel``, the golden model;
- **monitor**: ``TLBSim.run`` (or Icarus) recording the design's per-cycle outputs as events;
- **scoreboard**: ``assert_same_events``, comparing the two in order, operation by operation.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from hwmodels.tlb import (
    DISABLED,
    EventBatch,
    Op,
    OpBatch,
    PageSize,
    Perm,
    TLBArrayParams,
    TLBModel,
    TLBOp,
    TLBParams,
)

DATA = Path(__file__).resolve().parent.parent / "data"
TRACE = DATA / "gzip_deflate.lackey.gz"

# Small designs keep RTL simulation cheap; together they cover every policy, associativity
# kinds (direct-mapped, set-associative, fully associative, non-power-of-two ways), all three
# page sizes, tagged and untagged, narrow and full-width tags.
CONFIGS: dict[str, TLBParams] = {
    "mixed": TLBParams(
        l4k=TLBArrayParams(16, 4, "lru"),
        l2m=TLBArrayParams(4, 2, "plru"),
        l1g=TLBArrayParams(2, 2, "random"),
        pa_bits=32,
        vpid_bits=2,
        pcid_bits=2,
    ),
    "plru8": TLBParams(
        l4k=TLBArrayParams(16, 8, "plru"),
        l2m=DISABLED,
        l1g=TLBArrayParams(1, 1, "lru"),
        pa_bits=32,
        vpid_bits=1,
        pcid_bits=2,
    ),
    "random3": TLBParams(
        l4k=TLBArrayParams(12, 3, "random"),
        l2m=TLBArrayParams(3, 3, "lru"),
        l1g=DISABLED,
        pa_bits=32,
        vpid_bits=2,
        pcid_bits=1,
        lfsr_seed=0x0001,
    ),
    "untagged_fa": TLBParams(
        l4k=TLBArrayParams(8, 8, "lru"),
        l2m=TLBArrayParams(2, 2, "plru"),
        l1g=DISABLED,
        pa_bits=32,
        vpid_bits=0,
        pcid_bits=0,
    ),
    "wide_direct": TLBParams(
        l4k=TLBArrayParams(4, 1, "plru"),
        l2m=TLBArrayParams(2, 1, "random"),
        l1g=TLBArrayParams(2, 2, "lru"),
        va_bits=57,
        pa_bits=52,
    ),
}


def _tag_pool(bits: int) -> list[int]:
    # Mostly the current context (0), sometimes a switch to another, including the widest tag.
    return [0, 0, 0, 0, 1, (1 << bits) - 1] if bits else [0]


# Operation mix: mostly lookups and fills, every flush kind, rare full flushes.
OP_KINDS = (
    [Op.LOOKUP] * 16
    + [Op.FILL] * 14
    + [Op.INV_ADDR, Op.INV_AS, Op.INV_VM_NONGLOBAL, Op.INV_VM]
    + [Op.INV_ALL, Op.NOP]
)
# 4 KiB pages landing in sets 0 and 1 of every small array, inside several 2 MiB and 1 GiB
# regions (one at the top of the address space), so fills conflict, evict and overlap.
VPNS = (0, 1, 2, 4, 5, 8, 9, 16, 17, 32, 33, 64)
OFFSETS = (0, 0x7FF, 0xFFF)
GLOBAL_BITS = (0, 0, 0, 1)


def _regions(params: TLBParams) -> list[int]:
    top = 1 << (params.va_bits - 1)
    return [0, 0, 0, 1 << 21, 3 << 21, 1 << 30, (1 << 30) | (1 << 21), top]


def _sizes(params: TLBParams) -> list[PageSize]:
    return [PageSize(a) for a, arr in enumerate(params.arrays) if arr.enabled]


def op_strategy(params: TLBParams) -> st.SearchStrategy[TLBOp]:
    """Single operations over a small address pool that makes sets overflow and sizes alias."""
    va = st.builds(
        lambda r, v, o: r | (v << 12) | o,
        st.sampled_from(_regions(params)),
        st.sampled_from(VPNS),
        st.sampled_from(OFFSETS),
    )
    return st.builds(
        TLBOp,
        op=st.sampled_from(OP_KINDS),
        va=va,
        vpid=st.sampled_from(_tag_pool(params.vpid_bits)),
        pcid=st.sampled_from(_tag_pool(params.pcid_bits)),
        size=st.sampled_from(_sizes(params)),
        pfn=st.integers(0, (1 << params.pfn_bits) - 1),
        perms=st.integers(0, 15),
        glob=st.sampled_from(GLOBAL_BITS),
    )


def ops_strategy(
    params: TLBParams, min_size: int = 40, max_size: int = 200
) -> st.SearchStrategy[OpBatch]:
    """Whole operation sequences, long enough to fill sets and evict."""
    return st.lists(op_strategy(params), min_size=min_size, max_size=max_size).map(
        OpBatch.from_ops
    )


def random_ops(params: TLBParams, n: int, seed: int) -> OpBatch:
    """The same distribution as ``op_strategy``, from a seeded ``random.Random`` (no shrinking)."""
    rng = random.Random(seed)
    return OpBatch.from_ops(
        TLBOp(
            op=rng.choice(OP_KINDS),
            va=rng.choice(_regions(params)) | rng.choice(VPNS) << 12 | rng.choice(OFFSETS),
            vpid=rng.choice(_tag_pool(params.vpid_bits)),
            pcid=rng.choice(_tag_pool(params.pcid_bits)),
            size=rng.choice(_sizes(params)),
            pfn=rng.randrange(1 << params.pfn_bits),
            perms=rng.randrange(16),
            glob=rng.choice(GLOBAL_BITS),
        )
        for _ in range(n)
    )


def read_lackey(path: Path = TRACE) -> np.ndarray:
    """Data addresses (loads, stores, modifies) of a gzipped Valgrind lackey trace, in order."""
    addrs = []
    with gzip.open(path, "rt") as f:
        for line in f:
            if len(line) > 3 and line[0] == " " and line[1] in "LSM":
                addrs.append(int(line[3:].split(",")[0], 16))
    return np.array(addrs, dtype=np.uint64)


def _frame(key: int, pfn_bits: int) -> int:
    # Fibonacci hashing: a fixed, well-spread virtual-to-physical mapping.
    return (key * 0x9E3779B1) & ((1 << pfn_bits) - 1)


def drive_trace(addrs: np.ndarray, params: TLBParams) -> OpBatch:
    """Driver: each data reference becomes a lookup, and a fill on a miss (as a page walker).

    The stack (addresses >= 2**36) is backed by 2 MiB pages, everything else by 4 KiB pages.
    The slice is replayed as two processes (PCID 1, then 2, switching every 1000 references, the
    stack global), with an INVLPG of the current address every 700 references, a flush of the
    other address space every 1500 and of the whole VM (retaining globals) once.
    """
    tlb = TLBModel(params)
    ops: list[TLBOp] = []

    def emit(op: TLBOp) -> int:
        ops.append(op)
        return tlb.step(op).hit

    for i, va in enumerate(int(a) for a in addrs):
        pcid = 1 + (i // 1000) % 2
        if i and i % 700 == 0:
            emit(TLBOp.invalidate_address(va, vpid=1))
        if i and i % 1500 == 0:
            emit(TLBOp.invalidate_address_space(vpid=1, pcid=3 - pcid))
        if i == 2500:
            emit(TLBOp.invalidate_vm(vpid=1, keep_globals=True))
        if emit(TLBOp.lookup(va, vpid=1, pcid=pcid)):
            continue
        stack = va >= 1 << 36
        size, shift = (PageSize.SIZE_2M, 21) if stack else (PageSize.SIZE_4K, 12)
        frame = _frame(va >> shift, params.pfn_bits - (shift - 12)) << (shift - 12)
        perms = Perm.R | Perm.W | Perm.U  # lackey records user-mode data accesses only
        emit(TLBOp.fill(va, frame, size=size, perms=perms, glob=stack, vpid=1, pcid=pcid))
    return OpBatch.from_ops(ops)


def assert_same_events(ops: OpBatch, expected: EventBatch, actual: EventBatch, label: str) -> None:
    """Scoreboard: identical events for every operation, or a readable report of the first miss."""
    i = expected.first_difference(actual)
    if i is None:
        return
    lo = max(0, i - 5)
    context = "\n".join(f"  {j}: {ops.row(j)}" for j in range(lo, i))
    raise AssertionError(
        f"{label}: events differ at operation {i} of {len(ops)}\n"
        f"preceding operations:\n{context}\n"
        f"operation: {ops.row(i) if i < len(ops) else None}\n"
        f"reference: {expected.row(i) if i < len(expected) else None}\n"
        f"design:    {actual.row(i) if i < len(actual) else None}"
    )
