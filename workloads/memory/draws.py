"""numpy's default generator replayed in compiled code, draw for draw.

The OS-event generators (``forkwait``, ``mmap-churn``) make a few small random draws per
iteration: ``rng.integers``, ``rng.choice(..., replace=False)``, ``rng.permutation``,
``rng.random``. Each numpy call costs microseconds of Python, so at 10^5 iterations and more
the calls, not the events, are the generator. This module makes the same draws inside numba
kernels, from the state of ``np.random.default_rng(seed)``:

- the bit generator: PCG64 (128-bit LCG, XSL-RR output) and the upper half of a 64-bit output
  that numpy keeps for the next 32-bit draw (:func:`next64`, :func:`next32`);
- the algorithms numpy's ``Generator`` puts on top (numpy 2.x ``_generator.pyx`` and
  ``distributions.c``): Lemire's bounded integers (:func:`bounded`, what ``integers`` uses),
  the masked rejection of ``shuffle`` and ``permutation`` (:func:`interval`,
  :func:`permutation`), Floyd's sampling or a tail shuffle for ``choice`` without replacement
  (:func:`choice`), 53-bit doubles (:func:`uniform`).

So a kernel that makes the calls a Python generator made, in the same order, writes the same
stream, bit for bit, and the stream no longer depends on the installed numpy (whose
``Generator`` promises no stream compatibility across versions).
``tests/workloads/test_draws.py`` checks every function against numpy.

>>> g = state(7)
>>> rng = np.random.default_rng(7)
>>> int(bounded(g, np.uint64(15))) == int(rng.integers(16))
True
>>> out = np.empty(3, dtype=np.int64)
>>> marks, vals, gen = scratch(100)
>>> choice(g, 100, 3, out, marks, vals, gen)
>>> out.tolist() == rng.choice(100, size=3, replace=False).tolist()
True
"""

from __future__ import annotations

import numba
import numpy as np

_M_HI = np.uint64(0x2360ED051FC65DA4)
_M_LO = np.uint64(0x4385DF649FCCF645)
"""PCG64's 128-bit LCG multiplier (PCG_DEFAULT_MULTIPLIER_128), in halves."""
_LOW32 = np.uint64(0xFFFFFFFF)
_MAX64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U32 = np.uint64(32)


def state(seed: int) -> np.ndarray:
    """The state of ``np.random.default_rng(seed)`` as the kernels take it: ``uint64[6]`` =
    LCG state (high, low), increment (high, low), has-a-buffered-32-bit-half, that half."""
    s = np.random.default_rng(seed).bit_generator.state
    if s["bit_generator"] != "PCG64":  # pragma: no cover - numpy's default for years
        raise RuntimeError(f"default_rng is {s['bit_generator']}, not PCG64")
    lcg, inc = s["state"]["state"], s["state"]["inc"]
    return np.array([lcg >> 64, lcg & 0xFFFFFFFFFFFFFFFF, inc >> 64, inc & 0xFFFFFFFFFFFFFFFF,
                     s["has_uint32"], s["uinteger"]], dtype=np.uint64)


def scratch(population: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Work arrays for :func:`choice` from populations of up to ``population``."""
    size = max(population, 1)
    return np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64), \
        np.zeros(1, dtype=np.int64)


@numba.njit(cache=True, inline="always")
def _mulhi(a, b):  # pragma: no cover - compiled
    """High 64 bits of the 128-bit product of two uint64."""
    a_lo, a_hi = a & _LOW32, a >> _U32
    b_lo, b_hi = b & _LOW32, b >> _U32
    p0, p1, p2 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo
    mid = (p0 >> _U32) + (p1 & _LOW32) + (p2 & _LOW32)
    return a_hi * b_hi + (p1 >> _U32) + (p2 >> _U32) + (mid >> _U32)


@numba.njit(cache=True)
def next64(g):  # pragma: no cover - compiled
    """``bit_generator.random_raw()``: step the LCG, then the XSL-RR output."""
    hi, lo = g[0], g[1]
    new_lo = lo * _M_LO
    new_hi = _mulhi(lo, _M_LO) + lo * _M_HI + hi * _M_LO
    lo2 = new_lo + g[3]
    hi2 = new_hi + g[2] + (_U1 if lo2 < new_lo else _U0)
    g[0], g[1] = hi2, lo2
    x = hi2 ^ lo2
    rot = hi2 >> np.uint64(58)
    return (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))


@numba.njit(cache=True)
def next32(g):  # pragma: no cover - compiled
    """numpy's ``next_uint32``: the low half of a 64-bit output, the high half kept for the
    next call."""
    if g[4]:
        g[4] = _U0
        return g[5]
    v = next64(g)
    g[4] = _U1
    g[5] = v >> _U32
    return v & _LOW32


@numba.njit(cache=True)
def bounded(g, rng):  # pragma: no cover - compiled
    """A uniform integer in ``[0, rng]`` (``rng`` uint64) as ``random_bounded_uint64`` draws
    it (Lemire's method, 32-bit draws when ``rng`` fits 32 bits; no draw when it is 0): what
    ``integers(low, high)`` adds to ``low`` with ``rng = high - 1 - low``."""
    if rng == _U0:
        return _U0
    if rng <= _LOW32:
        if rng == _LOW32:
            return next32(g)
        excl = rng + _U1
        m = next32(g) * excl
        leftover = m & _LOW32
        if leftover < excl:
            threshold = (_LOW32 - rng) % excl
            while leftover < threshold:
                m = next32(g) * excl
                leftover = m & _LOW32
        return m >> _U32
    if rng == _MAX64:
        return next64(g)
    excl = rng + _U1
    x = next64(g)
    leftover = x * excl
    if leftover < excl:
        threshold = (_MAX64 - rng) % excl
        while leftover < threshold:
            x = next64(g)
            leftover = x * excl
    return _mulhi(x, excl)


@numba.njit(cache=True)
def interval(g, top):  # pragma: no cover - compiled
    """numpy's ``random_interval``: an integer in ``[0, top]`` by masked rejection (what
    ``shuffle`` and ``permutation`` draw)."""
    if top == _U0:
        return _U0
    mask = top
    mask |= mask >> np.uint64(1)
    mask |= mask >> np.uint64(2)
    mask |= mask >> np.uint64(4)
    mask |= mask >> np.uint64(8)
    mask |= mask >> np.uint64(16)
    mask |= mask >> np.uint64(32)
    if top <= _LOW32:
        value = next32(g) & mask
        while value > top:
            value = next32(g) & mask
    else:
        value = next64(g) & mask
        while value > top:
            value = next64(g) & mask
    return value


@numba.njit(cache=True)
def uniform(g):  # pragma: no cover - compiled
    """``random()``: a double in [0, 1) from the top 53 bits of a 64-bit output."""
    return np.float64(next64(g) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def permutation(g, n, out):  # pragma: no cover - compiled
    """``permutation(n)`` into ``out[:n]``: ``arange(n)`` shuffled from the top down."""
    for i in range(n):
        out[i] = i
    for i in range(n - 1, 0, -1):
        j = np.int64(interval(g, np.uint64(i)))
        out[i], out[j] = out[j], out[i]


@numba.njit(cache=True)
def _shuffle_int(g, n, first, data):  # pragma: no cover - compiled
    """numpy's ``_shuffle_int``: swaps ``n-1`` down to ``first`` with bounded draws."""
    for i in range(n - 1, first - 1, -1):
        j = np.int64(bounded(g, np.uint64(i)))
        data[i], data[j] = data[j], data[i]


@numba.njit(cache=True)
def choice(g, population, size, out, marks, vals, gen):  # pragma: no cover - compiled
    """``choice(population, size, replace=False)`` into ``out[:size]``.

    numpy takes a tail shuffle of ``arange(population)`` when the population exceeds 10,000
    and the sample is more than a 50th of it, Floyd's algorithm (then a shuffle of the
    sample) otherwise. ``marks`` and ``vals`` (at least ``population`` long) and ``gen`` come
    from :func:`scratch`: generation stamps stand for the hash set and the ``arange``, so a
    call costs O(size), not O(population).
    """
    gen[0] += 1
    stamp = gen[0]
    if population > 10000 and size > population // 50:
        # vals[i] is the value at position i when marks[i] == stamp, else i (untouched).
        first = max(population - size, 1)
        for i in range(population - 1, first - 1, -1):
            j = np.int64(bounded(g, np.uint64(i)))
            vi = vals[i] if marks[i] == stamp else i
            vj = vals[j] if marks[j] == stamp else j
            vals[i], vals[j] = vj, vi
            marks[i] = stamp
            marks[j] = stamp
        for k in range(size):
            i = population - size + k
            out[k] = vals[i] if marks[i] == stamp else i
        return
    for j in range(population - size, population):
        val = np.int64(bounded(g, np.uint64(j)))
        if marks[val] == stamp:
            val = j
        marks[val] = stamp
        out[j - population + size] = val
    _shuffle_int(g, size, 1, out)
