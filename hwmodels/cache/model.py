"""Behavioural data-cache hierarchy (L1D, L2, LLC): which level serves each reference.

It caches *lines*, not translations: page-table entries read by a walk and the data the
program touches are both ordinary cacheable lines here, so they compete for the same space.
The page-walk caches and the nested TLB (``hwmodels.pagewalk``) cache entries and stay as
they are; a walk reference that they do not skip goes through this hierarchy.

State is one int64 numpy array, sized once from the parameters, so that another compiled
kernel takes the whole hierarchy as one argument (:attr:`CacheModel.state`), and a call
passes one array descriptor, not several. Its layout:

- a header of ``HEADER`` words: per level its set mask, ways and first word (``3 * level +
  C_MASK / C_WAYS / C_BASE``), the inclusion flag, ``line_bits`` and the first present level
  (``C_*``), then the run state and counters (``S_*``): the use clock, the last line looked
  up, references served per level, evictions per level, back-invalidations; then the
  placement's key (``C_PLACE``: -1 for ordered), the bits of a line's offset in its page
  (``C_PAGE_BITS``) and which placement renames (``C_PLACE_KIND``: 0 scattered, 1
  uncoloured);
- then, level by level and set by set, a block of ``2 * ways`` words: the line number held
  by each way (``-1``: invalid) and then when each way was last used (true LRU; 0 when
  invalid). Full line numbers, not tags: a probe is one compare per way and an invalidation
  needs no tag arithmetic; a set's lines and use times share one or two host cache lines.

Semantics (the plain-Python model in ``tests/hwmodels/test_cache.py`` is the specification
these kernels are judged against):

- **Index.** ``line = addr >> line_bits``; a level's set is ``line % sets`` (sets are a
  power of two). Addresses are physical byte addresses below 2**63 (52 bits on x86-64).
  With the ``scattered`` or ``uncoloured`` placement a line is renamed first (:func:`placed`,
  :func:`uncoloured`), and every level holds and reports renamed lines.
- **Lookup.** Levels are probed innermost first; the first that holds the line serves the
  reference and returns its number (0 = L1, 1 = L2, 2 = LLC, 3 = memory). Only the serving
  level's LRU order is touched: an L1 hit does not refresh the line in L2 or the LLC, as in
  hardware (which is what makes inclusion victims possible).
- **Fill.** The line is written into every present level inside the one that served it,
  outermost first (LLC, then L2, then L1). The way written is the least recently used one,
  an invalid way first (lowest first); it becomes the most recently used. An eviction
  touches no other level under ``"nine"``; under ``"inclusive"`` an LLC eviction
  back-invalidates the victim line in L1 and L2 (before they are filled, so a way it frees
  can take the new line).
- **Writes** are looked up and filled like loads (write-allocate). No write-back traffic is
  modelled: a dirty victim costs nothing extra, and no level tracks dirtiness.
- **Invalidation** (:func:`invalidate_line`, :meth:`CacheModel.flush`) clears slots;
  replacement state of other slots is left as it is.

Repeated lookups of one line are the common case (eight 8-byte words per 64-byte line): when
a lookup names the line the previous lookup named, that line is the most recently used line
of its set in the first present level, so it hits there and changes no replacement order.
The kernel answers it from ``state[S_LAST]`` without a probe; the effect is identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace

import numba
import numpy as np

from hwmodels.cache.params import (
    ABSENT,
    LEVEL_NAMES,
    MEMORY,
    SERVED_NAMES,
    CacheLevelParams,
    CacheParams,
)

# Header words: three per level (level lv at 3 * lv + C_*), then the scalars.
C_MASK, C_WAYS, C_BASE = range(3)
C_INCLUSIVE, C_LINE_BITS, C_FIRST = 9, 10, 11
S_CLOCK, S_LAST = 12, 13
S_SERVED = 14
"""``state[S_SERVED + level]``: references served by L1, L2, LLC, memory."""
S_EVICT = 18
"""``state[S_EVICT + level]``: valid lines evicted from L1, L2, LLC by fills."""
S_BACKINV = 21
"""Lines removed from L1 or L2 by an inclusive LLC's evictions (one per level holding it)."""
C_PLACE, C_PAGE_BITS, C_PLACE_KIND = 22, 23, 24
HEADER = 32
"""Header words (4 host cache lines, the last in part unused: the set blocks after it stay
64-byte aligned)."""

_MEMORY = MEMORY


# Words of ``state`` are indexed through ``np.uint64`` where numba cannot see that an index
# is not negative: it then drops its negative-index test from the access (measured with
# bench_cache: 209 -> 279 M lookups/s on the sequential stream, 24 -> 30 on the random one).


@numba.njit(cache=True, inline="always")
def _block(state, lv, line):
    """First word of ``line``'s set block at level ``lv``."""
    return state[3 * lv + C_BASE] + (line & state[3 * lv + C_MASK]) * 2 * state[3 * lv + C_WAYS]


@numba.njit(cache=True, inline="always")
def _find(state, lv, line):
    """Word holding ``line`` at level ``lv`` (its use time is ``ways`` words on), or -1."""
    ways = state[3 * lv + C_WAYS]
    b = _block(state, lv, line)
    for s in range(b, b + ways):
        if state[np.uint64(s)] == line:
            return s
    return -1


@numba.njit(cache=True, inline="always")
def _victim(state, b, ways):
    # Invalid ways carry use time 0 and valid ones >= 1: the first minimum is the lowest
    # invalid way if there is one, else the least recently used.
    v = b
    best = state[np.uint64(b + ways)]
    for s in range(b + 1, b + ways):
        u = np.uint64(s + ways)
        if state[u] < best:
            best = state[u]
            v = s
    return v


@numba.njit(cache=True, inline="always")
def _probe(state, lv, line, ways):
    """(word holding ``line`` at level ``lv`` or -1, the set's victim word): one pass over
    the set, for the outer levels, where a miss needs both."""
    b = _block(state, lv, line)
    v = b
    best = state[np.uint64(b + ways)]
    for s in range(b, b + ways):
        if state[np.uint64(s)] == line:
            return s, v
        u = np.uint64(s + ways)
        if state[u] < best:  # invalid ways (time 0) first, as in _victim
            best = state[u]
            v = s
    return -1, v


@numba.njit(cache=True, inline="always")
def _fill(state, lv, v, line, clock):
    """Write ``line`` into word ``v`` of level ``lv``, most recently used; the line it held."""
    u = np.uint64(v)
    old = state[u]
    if old >= 0:
        state[S_EVICT + lv] += 1
    state[u] = line
    state[u + np.uint64(state[3 * lv + C_WAYS])] = clock
    return old


@numba.njit(cache=True, inline="always")
def _drop(state, lv, line):
    s = _find(state, lv, line)
    if s < 0:
        return 0
    state[s] = -1
    state[s + state[3 * lv + C_WAYS]] = 0
    return 1


@numba.njit(cache=True, inline="always")
def placed(line, page_bits, key):
    """The scattered placement's name for ``line`` (a line number; ``page_bits``: bits of a
    line's index in its 4 KiB frame; ``key``: the placement seed): the frame keeps its 2 MiB
    block and takes the block's keyed permutation of its index in the block (9 bits; every
    step below is a bijection of them), so distinct lines keep distinct names.

    >>> hex(placed(0x40000, 6, 0)), hex(placed(0x40001, 6, 0)), hex(placed(0x40000, 6, 1))
    ('0x40140', '0x40141', '0x47240')
    """
    frame = line >> page_bits
    block = frame >> 9
    h = (block ^ key) & 0x7FFFFFFF  # block < 2**31: physical addresses below 2**52
    h = (h * 0x5BD1E995) & 0x7FFFFFFF
    h ^= h >> 15
    h = (h * 0x27D4EB2F) & 0x7FFFFFFF
    h ^= h >> 13
    x = (frame & 511) ^ (h & 511)
    x = (x * (((h >> 9) & 255) * 2 + 1)) & 511
    x ^= x >> 5
    x = (x * 469) & 511
    x ^= x >> 4
    x = (x + (h >> 18)) & 511
    return ((block << 9 | x) << page_bits) | (line & ((1 << page_bits) - 1))


@numba.njit(cache=True, inline="always")
def uncoloured(line, page_bits, key):
    """The uncoloured placement's name for ``line`` (arguments as :func:`placed`): every 4
    KiB frame at a colour of its own, drawn by a keyed hash of the frame number, independent
    of its neighbours' -- the frame becomes the start of a 2 MiB block of its own (its number
    in the high bits, so distinct lines keep distinct names) at the hash's offset in it. The
    hash is SplitMix64's finalizer on 62 bits (every product masked, so that the arithmetic
    is the same in any integer width), in which every bit of the frame number moves the
    colour: frames that differ in high bits alone (the same guest frame of two VMs) fall
    at unrelated colours.

    >>> hex(uncoloured(0x40000, 6, 0)), hex(uncoloured(0x40001, 6, 0))
    ('0x8000400', '0x8000401')
    """
    frame = line >> page_bits
    h = (frame ^ (key * 0x2545F4914F6CDD1D)) & 0x3FFFFFFFFFFFFFFF
    h ^= h >> 31
    h = (h * 0x3F58476D1CE4E5B9) & 0x3FFFFFFFFFFFFFFF
    h ^= h >> 29
    h = (h * 0x14D049BB133111EB) & 0x3FFFFFFFFFFFFFFF
    h ^= h >> 32
    return ((frame << 9 | (h & 511)) << page_bits) | (line & ((1 << page_bits) - 1))


@numba.njit(cache=True, inline="always")
def _renamed(state, line):
    """``line`` as the placement of ``state`` names it (not ordered: ``C_PLACE`` >= 0)."""
    if state[C_PLACE_KIND] == 1:
        return uncoloured(line, state[C_PAGE_BITS], state[C_PLACE])
    return placed(line, state[C_PAGE_BITS], state[C_PLACE])


@numba.njit(cache=True, inline="always")
def _access(state, line):
    # The lookup behind every entry point below (inlined into each, never into a caller).
    if line == state[S_LAST]:
        hit = state[C_FIRST]
        state[S_SERVED + hit] += 1
        return hit
    state[S_LAST] = line
    if state[C_PLACE] >= 0:
        line = _renamed(state, line)
    clock = state[S_CLOCK] + 1
    state[S_CLOCK] = clock
    # L1 on its own: the hit-heavy path must not pay for a victim search.
    s = _find(state, 0, line)
    if s >= 0:
        state[np.uint64(s + state[C_WAYS])] = clock
        state[S_SERVED] += 1
        return 0
    hit = _MEMORY
    v1 = -1  # victim words of L2 and the LLC (-1: absent, or not probed)
    v2 = -1
    for lv in range(1, 3):
        ways = state[3 * lv + C_WAYS]
        if ways == 0:
            continue
        s, v = _probe(state, lv, line, ways)
        if s >= 0:
            state[np.uint64(s + ways)] = clock
            hit = lv
            break
        if lv == 1:
            v1 = v
        else:
            v2 = v
    state[S_SERVED + hit] += 1
    # Fill outermost first: an inclusive LLC's back-invalidation may free the way L2 or L1
    # should take.
    if hit > 2 and v2 >= 0:
        old = _fill(state, 2, v2, line, clock)
        if old >= 0 and state[C_INCLUSIVE]:
            in_l2 = _drop(state, 1, old)
            state[S_BACKINV] += _drop(state, 0, old) + in_l2
            if in_l2 and v1 >= 0:
                v1 = _victim(state, _block(state, 1, line), state[3 + C_WAYS])
    if hit > 1 and v1 >= 0:
        _fill(state, 1, v1, line, clock)
    if state[C_WAYS]:
        _fill(state, 0, _victim(state, _block(state, 0, line), state[C_WAYS]), line, clock)
    return hit


# The entry points are compiled without reference counting (``_nrt=False``; they allocate
# nothing) and are not inlined into their callers. Inlined, a caller counts references to
# ``state`` around every lookup unless numba's pruning pass removes the counts, which it does
# or not depending on the shape of the caller's code: measured, that was the difference
# between 83 and 57 M lookups/s on the batch kernel (and 83 vs 23 with the state in four
# arrays). Not inlined, a call costs a few cycles whatever the caller looks like.


@numba.njit(cache=True, _nrt=False)
def access_line(state, line):
    """Look up (and on a miss fill) line number ``line``; the level that served it.

    The per-reference entry point for other compiled kernels (the MMU replay's), which take
    :attr:`CacheModel.state` as an argument. Also callable from Python, one reference per
    call.

    >>> m = CacheModel(CacheParams())
    >>> access_line(m.state, 0x40), access_line(m.state, 0x40), access_line(m.state, 0x41)
    (3, 0, 3)
    """
    return _access(state, line)


@numba.njit(cache=True, _nrt=False)
def access_addr(state, addr):
    """:func:`access_line` of the line holding byte address ``addr`` (an int64).

    >>> m = CacheModel(CacheParams())
    >>> access_addr(m.state, 0x1000), access_addr(m.state, 0x1038)
    (3, 0)
    """
    return _access(state, addr >> state[C_LINE_BITS])


@numba.njit(cache=True, _nrt=False)
def invalidate_line(state, line):
    """Remove ``line`` from every level; how many levels held it.

    >>> m = CacheModel(CacheParams())
    >>> _ = access_line(m.state, 7); invalidate_line(m.state, 7), access_line(m.state, 7)
    (3, 3)
    """
    if state[S_LAST] == line:
        state[S_LAST] = -1
    if state[C_PLACE] >= 0:
        line = _renamed(state, line)
    return _drop(state, 0, line) + _drop(state, 1, line) + _drop(state, 2, line)


@numba.njit(cache=True, _nrt=False)
def access_batch(state, addrs, out):
    """Run byte addresses ``addrs`` (int64) through the hierarchy in order; ``out[i]`` gets
    the level that served ``addrs[i]``.

    >>> m = CacheModel(CacheParams())
    >>> out = np.zeros(3, np.uint8)
    >>> access_batch(m.state, np.array([0, 8, 64]), out); out.tolist()
    [3, 0, 3]
    """
    shift = state[C_LINE_BITS]
    for i in range(addrs.shape[0]):
        out[i] = _access(state, addrs[i] >> shift)


# --- other last-level caches beside the hierarchy, on the same stream ------------------------
#
# Under ``"nine"`` the LLC changes nothing in L1 or L2: the references that reach it (those
# L1 and L2 did not serve) are the same whatever its size or associativity, and it serves
# each of them or not by its own state alone. So several LLC configurations can be run on
# one pass of the hierarchy (:class:`LLCVariants`), each serving exactly what it would as
# the hierarchy's own LLC. Variants with the same number of sets share one LRU stack per set
# (Mattson et al., 1970): a set keeps its most recent lines in order, most recent first, as
# deep as the most associative of them; a reference found at depth ``d`` hits every variant
# of more than ``d`` ways. A set of W ways holds exactly the W most recent distinct lines
# mapped to it -- the lines the model's LRU sets hold, invalid ways filled first and nothing
# invalidated -- so each variant serves what its own hierarchy would.
#
# State: a header (``V_COUNT`` variants, ``V_GROUPS`` set counts), per variant its group and
# ways (two words), per group its set mask, depth, first word of its stacks, and first and
# number of its members in the member list (five words), the member list (variant numbers by
# group), then each group's stacks: ``depth`` words a set, lines most recent first, -1 past
# the last.

V_COUNT, V_GROUPS = 0, 1
V_HEADER = 2
"""Words before the per-variant configuration."""
G_MASK, G_DEPTH, G_BASE, G_FIRST, G_SIZE = range(5)
MAX_VARIANTS = 62
"""Variants one pass runs: one bit each in :func:`variants_batch`'s mask."""


@numba.njit(cache=True, _nrt=False)
def access_reach(state, addr):
    """:func:`access_addr`, and the line as the LLC names it (renamed by the placement) when
    the reference reaches the LLC: ``(level, line)``, ``line`` -1 for a reference that L1
    or L2 served. What :func:`variants_batch` takes.

    >>> m = CacheModel(CacheParams())
    >>> access_reach(m.state, 0x1040), access_reach(m.state, 0x1048)
    ((3, 65), (0, -1))
    """
    line = addr >> state[C_LINE_BITS]
    lv = _access(state, line)
    if lv < 2:
        return lv, -1
    if state[C_PLACE] >= 0:
        line = _renamed(state, line)
    return lv, line


@numba.njit(cache=True, _nrt=False)
def variants_batch(vstate, lines, mask):
    """Run the lines that reached the LLC (in order; :func:`access_reach`'s) through the LLC
    variants ``vstate`` (:attr:`LLCVariants.state`): bit ``k`` of ``mask[i]`` is set when
    variant ``k`` served ``lines[i]`` (``mask`` starts at 0). A group of variants at a time
    over the whole batch: its stacks stay in the host's caches and the misses of successive
    references overlap, several times faster than every group per reference.

    >>> v = LLCVariants(CacheParams(), [CacheLevelParams(0, 0), CacheLevelParams(64 << 10, 1)])
    >>> mask = np.zeros(3, np.int64)
    >>> variants_batch(v.state, np.array([0, 64, 0]), mask); mask.tolist()
    [0, 0, 2]
    """
    nv = vstate[V_COUNT]
    groups = V_HEADER + 2 * nv
    members = groups + 5 * vstate[V_GROUPS]
    for g in range(vstate[V_GROUPS]):
        h = groups + 5 * g
        depth = vstate[h + G_DEPTH]
        set_mask = vstate[h + G_MASK]
        base = vstate[h + G_BASE]
        first = members + vstate[h + G_FIRST]
        last = first + vstate[h + G_SIZE]
        for i in range(lines.shape[0]):
            line = lines[i]
            b = base + (line & set_mask) * depth
            d = 0
            while d < depth and vstate[np.uint64(b + d)] != line \
                    and vstate[np.uint64(b + d)] >= 0:
                d += 1
            at = d
            if d == depth:  # a miss in a full stack: its least recent line goes
                at = depth - 1
            elif vstate[np.uint64(b + d)] != line:  # a miss in a stack with room
                d = depth
            for s in range(b + at, b, -1):  # the line to the top, those above it down one
                vstate[np.uint64(s)] = vstate[np.uint64(s - 1)]
            vstate[np.uint64(b)] = line
            for j in range(first, last):
                k = vstate[j]
                if d < vstate[V_HEADER + 2 * k + 1]:
                    mask[i] |= 1 << k


@numba.njit(cache=True)
def access_variants_batch(state, vstate, addrs, level, mask):
    """Byte addresses ``addrs`` (int64) through the hierarchy ``state`` in order, the levels
    into ``level``, and those that reached the LLC through the variants ``vstate`` too:
    ``mask[i]`` as :func:`variants_batch` sets it (0 where L1 or L2 served).

    >>> m = CacheModel(CacheParams())
    >>> v = LLCVariants(m.params, [CacheLevelParams(0, 0), CacheLevelParams(64 << 10, 1)])
    >>> level, mask = np.zeros(3, np.int64), np.zeros(3, np.int64)
    >>> access_variants_batch(m.state, v.state, np.array([0, 0x1000, 0]), level, mask)
    >>> level.tolist(), mask.tolist()
    ([3, 3, 0], [0, 0, 0])
    >>> m.flush(); access_variants_batch(m.state, v.state, np.array([0]), level, mask)
    >>> int(level[0]), int(mask[0])   # only the 64 KiB LLC still holds it
    (3, 2)
    """
    lines = np.empty(addrs.shape[0], dtype=np.int64)
    where = np.empty(addrs.shape[0], dtype=np.int64)
    n = 0
    for i in range(addrs.shape[0]):
        level[i], line = access_reach(state, addrs[i])
        mask[i] = 0
        if line >= 0:
            lines[n] = line
            where[n] = i
            n += 1
    got = np.zeros(n, dtype=np.int64)
    variants_batch(vstate, lines[:n], got)
    for x in range(n):
        mask[where[x]] = got[x]


class LLCVariants:
    """Other last-level caches run beside a hierarchy's own, on the references that reach
    its LLC (see above): ``llcs[k]`` is variant ``k`` (an absent level: no LLC, memory
    serves). Exact only under ``"nine"``, where the LLC changes nothing in L1 and L2.

    >>> v = LLCVariants(CacheParams(), [CacheLevelParams(2 << 20, 16, 30),
    ...                                 CacheLevelParams(1 << 20, 8, 30)])
    >>> len(v), v.groups        # 2048 sets both: one stack a set, 16 deep
    (2, [(2048, 16)])
    >>> LLCVariants(CacheParams(inclusion="inclusive"), [])
    Traceback (most recent call last):
    ValueError: LLC variants need cache.inclusion = 'nine' (an inclusive LLC back-invalidates L1 and L2)
    """  # noqa: E501

    def __init__(self, base: CacheParams, llcs: Sequence[CacheLevelParams]) -> None:
        if base.inclusion != "nine":
            raise ValueError("LLC variants need cache.inclusion = 'nine' (an inclusive LLC "
                             "back-invalidates L1 and L2)")
        if len(llcs) > MAX_VARIANTS:
            raise ValueError(f"at most {MAX_VARIANTS} LLC variants, got {len(llcs)}")
        self.llcs = tuple(llcs)
        self.params = [replace(base, llc=llc) for llc in self.llcs]  # each checked as a whole
        depth: dict[int, int] = {}
        for p in self.params:
            if p.llc.enabled:
                depth[p.sets[2]] = max(depth.get(p.sets[2], 0), p.llc.ways)
        self.groups = sorted(depth.items())
        """(sets, stack depth) of each group of variants with the same number of sets."""
        group = {sets: g for g, (sets, _) in enumerate(self.groups)}
        nv, ng = len(llcs), len(self.groups)
        members = [k for sets, _ in self.groups for k, p in enumerate(self.params)
                   if p.llc.enabled and p.sets[2] == sets]
        header = V_HEADER + 2 * nv + 5 * ng + len(members)
        size = header + sum(sets * d for sets, d in self.groups)
        self.state = np.full(size, -1, dtype=np.int64)
        st = self.state
        st[V_COUNT], st[V_GROUPS] = nv, ng
        for k, p in enumerate(self.params):
            st[V_HEADER + 2 * k] = group[p.sets[2]] if p.llc.enabled else -1
            st[V_HEADER + 2 * k + 1] = p.llc.ways  # 0: never a hit
        at, first = header, 0
        for g, (sets, d) in enumerate(self.groups):
            h = V_HEADER + 2 * nv + 5 * g
            n = sum(1 for k in members if self.params[k].sets[2] == sets)
            st[h:h + 5] = (sets - 1, d, at, first, n)
            at += sets * d
            first += n
        st[V_HEADER + 2 * nv + 5 * ng:header] = members

    def __len__(self) -> int:
        return len(self.llcs)


# --- other hierarchies beside this one, on the references that reach where they differ -----
#
# Any other hierarchy can run beside this one on the same references, each a whole
# :class:`CacheModel` state of its own (:class:`CacheTails`): exact whatever differs (sizes,
# ways, inclusion, placement), at the cost of a simulation each. When the others differ
# from it only in L2 and the LLC under ``"nine"``, L1 is shared: nothing after L1 changes L1
# there (no back-invalidation, and a hit in L2 or the LLC fills L1 the same way as one from
# memory), so the references L1 does not serve are the same, in the same order, whatever L2
# and the LLC are, and those two serve each of them by their own state alone. Each tail is
# then a hierarchy without an L1 fed only those (``start`` 1). A different L2 changes what
# its LLC sees, so unlike :class:`LLCVariants` no two tails share a stack. A tail behind the
# hierarchy's L1 is never handed the same line twice in a row (L1 would have served the
# second) unless something was invalidated between, which the MMU replay never does: so the
# model's repeated-line shortcut, which answers from the first present level, is never taken
# on a reference the hierarchy's L2 would not see.

MAX_TAIL_BYTES = 1 << 30
"""Most memory the tails of one :class:`CacheTails` may hold (their states)."""


def differ_only_in(base: CacheParams, caches: Sequence[CacheParams],
                   names: Sequence[str]) -> bool:
    """True when every one of ``caches`` equals ``base`` but in the fields ``names``.

    >>> differ_only_in(CacheParams(), [CacheParams(llc=ABSENT)], ("llc",))
    True
    >>> differ_only_in(CacheParams(), [CacheParams(l2=ABSENT)], ("llc",))
    False
    """
    keep = [f.name for f in fields(CacheParams) if f.name not in names]
    return all(getattr(c, f) == getattr(base, f) for c in caches for f in keep)


@numba.njit(cache=True)
def tails_batch(tstate, offsets, addrs, levels):
    """Run byte addresses ``addrs`` (int64: the references that reach the tails' first
    level, in order: every reference, or those the hierarchy's L1 did not serve,
    :attr:`CacheTails.start`) through each tail of ``tstate`` (:attr:`CacheTails.state`,
    tail ``t`` at ``offsets[t]`` .. ``offsets[t + 1]``): ``levels[i, t]`` gets the level
    (0 L1, 1 L2, 2 LLC, 3 memory) tail ``t`` served ``addrs[i]`` at. A tail at a time over
    the whole batch (its state stays in the host's caches).

    >>> m = CacheModel(CacheParams())
    >>> t = CacheTails(m.params, [CacheParams(llc=ABSENT), CacheParams()])
    >>> levels = np.zeros((3, 2), np.int64)
    >>> tails_batch(t.state, t.offsets, np.array([320, 384, 320]), levels); levels.tolist()
    [[3, 3], [3, 3], [1, 1]]
    """
    for t in range(offsets.shape[0] - 1):
        state = tstate[offsets[t]:offsets[t + 1]]
        shift = state[C_LINE_BITS]
        for i in range(addrs.shape[0]):
            levels[i, t] = _access(state, addrs[i] >> shift)


class CacheTails:
    """Other hierarchies run beside one (``base``), on the references that reach the level
    where they start to differ (see above): ``caches[k]`` is tail ``k``'s whole
    configuration. They start after L1 (:attr:`start` 1) when each differs from ``base``
    only in ``l2`` and ``llc`` (absent levels allowed) under ``"nine"``; else each is a
    whole hierarchy fed every reference (:attr:`start` 0).

    >>> t = CacheTails(CacheParams(), [CacheParams(l2=CacheLevelParams(512 << 10, 8, 14))])
    >>> len(t), t.start, int(t.offsets[-1]) == len(t.state)
    (1, 1, True)
    >>> CacheTails(CacheParams(), [CacheParams(line=128)]).start
    0
    """

    def __init__(self, base: CacheParams, caches: Sequence[CacheParams]) -> None:
        if len(caches) > MAX_VARIANTS:
            raise ValueError(f"at most {MAX_VARIANTS} cache tails, got {len(caches)}")
        self.params = tuple(caches)
        self.start = int(base.inclusion == "nine"
                         and differ_only_in(base, self.params, ("l2", "llc")))
        """The level the tails start at (0 L1, 1 L2): the references they are fed are those
        the hierarchy's levels before it did not serve."""
        words = sum(2 * c.slots for c in self.params)
        if 8 * words > MAX_TAIL_BYTES:
            raise ValueError(f"cache tails of {8 * words >> 20} MiB, more than "
                             f"{MAX_TAIL_BYTES >> 20} MiB")
        states = [CacheModel(replace(c, l1=ABSENT) if self.start else c).state
                  for c in self.params]
        self.offsets = np.zeros(len(states) + 1, dtype=np.int64)
        """Tail ``t``'s state is ``state[offsets[t]:offsets[t + 1]]``."""
        np.cumsum([len(s) for s in states], out=self.offsets[1:])
        self.state = (np.concatenate(states) if states else np.zeros(0, dtype=np.int64))
        """Every tail's :attr:`CacheModel.state`, one after the other."""

    def __len__(self) -> int:
        return len(self.params)


def _as_int64(addrs: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(addrs)
    if a.dtype == np.uint64:
        return a.view(np.int64)  # physical addresses are below 2**63: same values, no copy
    return a.astype(np.int64, copy=False)


class CacheModel:
    """The hierarchy's state and its batch and single-reference entry points.

    >>> m = CacheModel(CacheParams())
    >>> m.access(np.array([0x1000, 0x1008, 0x1040, 0x1000], dtype=np.uint64)).tolist()
    [3, 0, 3, 0]
    >>> m.counters()["served.memory"], m.counters()["served.l1"]
    (2, 2)
    >>> m.access_one(0x1040), m.invalidate(0x1040), m.access_one(0x1040)
    (0, 3, 3)
    """

    def __init__(self, params: CacheParams) -> None:
        self.params = params
        header = np.zeros(HEADER, dtype=np.int64)
        base = HEADER
        first = MEMORY
        for lv, (level, sets) in enumerate(zip(params.levels, params.sets, strict=True)):
            if not level.enabled:
                continue
            first = min(first, lv)
            header[3 * lv + C_MASK] = sets - 1
            header[3 * lv + C_WAYS] = level.ways
            header[3 * lv + C_BASE] = base
            base += 2 * sets * level.ways
        header[C_INCLUSIVE] = int(params.inclusion == "inclusive")
        header[C_LINE_BITS] = params.line_bits
        header[C_FIRST] = first
        header[C_PLACE] = params.placement_seed if params.placement != "ordered" else -1
        header[C_PLACE_KIND] = int(params.placement == "uncoloured")
        header[C_PAGE_BITS] = 12 - params.line_bits
        self._config = header.copy()
        # Allocated once: reset and flush work in place, so a caller holding ``state`` keeps
        # a valid array. Started on a 64-byte boundary so that no set block straddles more
        # host cache lines than it must.
        buf = np.empty(base + 8, dtype=np.int64)
        skip = (-buf.ctypes.data % 64) // 8
        self.state = buf[skip:skip + base]
        """The whole hierarchy: the argument the compiled functions take first."""
        self.reset()

    def _blocks(self, level: int) -> np.ndarray:
        """Level ``level``'s set blocks as a ``(sets, 2, ways)`` view: lines, use times."""
        ways = int(self.state[3 * level + C_WAYS])
        sets = int(self.state[3 * level + C_MASK]) + 1
        base = int(self.state[3 * level + C_BASE])
        return self.state[base:base + 2 * sets * ways].reshape(sets, 2, ways)

    def reset(self) -> None:
        """Power-on: every line invalid, counters at zero."""
        self.state[:HEADER] = self._config  # the configuration, and zero run state
        self.flush()

    def flush(self) -> None:
        """Invalidate every line of every level (counters are kept)."""
        for lv, level in enumerate(self.params.levels):
            if level.enabled:
                blocks = self._blocks(lv)
                blocks[:, 0, :] = -1
                blocks[:, 1, :] = 0
        self.state[S_LAST] = -1

    def access(self, addrs: np.ndarray) -> np.ndarray:
        """The level (uint8: 0 L1, 1 L2, 2 LLC, 3 memory) serving each byte address of
        ``addrs`` (uint64 or int64), looked up in order, with the fills they cause."""
        a = _as_int64(addrs)
        out = np.empty(len(a), dtype=np.uint8)
        access_batch(self.state, a, out)
        return out

    def access_one(self, addr: int) -> int:
        """The level serving one byte address (for tests and exploration; slow per call)."""
        return int(access_addr(self.state, np.int64(addr)))

    def invalidate(self, addr: int) -> int:
        """Remove the line holding byte address ``addr`` everywhere; how many levels held it."""
        return int(invalidate_line(self.state, np.int64(addr >> self.params.line_bits)))

    def counters(self) -> dict[str, int]:
        """References served per level (``served.l1`` .. ``served.memory``), lines evicted per
        level (``evictions.l1`` ..), ``back_invalidations`` and ``lookups``.

        >>> CacheModel(CacheParams()).counters()["lookups"]
        0
        """
        s = self.state[:HEADER].tolist()
        out = {f"served.{name}": s[S_SERVED + lv] for lv, name in enumerate(SERVED_NAMES)}
        out |= {f"evictions.{name}": s[S_EVICT + lv] for lv, name in enumerate(LEVEL_NAMES)}
        out["back_invalidations"] = s[S_BACKINV]
        out["lookups"] = sum(s[S_SERVED:S_SERVED + 4])
        return out

    def contents(self, level: int) -> list[int]:
        """Line numbers held by ``level`` (0 .. 2), sorted (for tests and debugging).

        >>> m = CacheModel(CacheParams()); _ = m.access(np.array([0x80, 0x40]))
        >>> m.contents(0), m.contents(2)
        ([1, 2], [1, 2])
        """
        if not self.params.levels[level].enabled:
            return []
        held = self._blocks(level)[:, 0, :]
        return sorted(held[held >= 0].tolist())


__all__ = [
    "HEADER",
    "MAX_VARIANTS",
    "S_BACKINV",
    "S_EVICT",
    "S_SERVED",
    "CacheModel",
    "CacheTails",
    "LLCVariants",
    "access_addr",
    "access_batch",
    "access_line",
    "access_reach",
    "access_variants_batch",
    "differ_only_in",
    "invalidate_line",
    "tails_batch",
    "variants_batch",
]
