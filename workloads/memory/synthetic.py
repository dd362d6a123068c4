"""Synthetic access patterns: one process, one anonymous region, a stream of references.

Each stream is SPAWN, SWITCH, one ``mmap`` of ``workload.footprint_mb`` MiB at
:data:`~workloads.memory.common.MMAP_BASE`, then ``workload.refs`` ACCESS events whose offsets
into the region follow the pattern:

==================  ==========================================================================
``sequential``      ``i x element_bytes`` modulo the footprint (a streaming loop)
``strided``         ``i x stride`` modulo the footprint (one reference per page at 4096: every
                    reference a new page until the footprint wraps)
``random``          uniform random 8-byte words (HPCC RandomAccess / GUPS); by default each
                    update is a read then a write of the same word
``zipf``            pages drawn with probability proportional to ``rank^-s``, the ranks
                    scattered over the region by a random permutation (hot pages are not
                    neighbours); a uniform 8-byte word within the page
``pointer-chase``   nodes of ``node_bytes`` visited in a random cyclic order, every node once
                    per lap (a linked list built in shuffled order)
==================  ==========================================================================

Except GUPS updates, exactly ``round(refs x write_fraction)`` references write, at random
positions.

>>> from workloads.memory.events import summarize
>>> s = summarize(generate_strided(StridedParams(refs=100, footprint_mb=1, stride=4096)))
>>> s.accesses, s.touched_pages, s.mapped_pages
(100, 100, 256)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.params import param
from codesign.registry import Workload
from workloads.memory.common import (
    MIB_PAGES,
    MMAP_BASE,
    exact_writes,
    footprint_param,
    refs_param,
    seed_param,
    single_process,
    words,
    write_fraction_param,
)
from workloads.memory.events import PAGE, Access


def _stream(offsets: np.ndarray, kinds: np.ndarray, footprint_mb: int) -> np.ndarray:
    return single_process(np.uint64(MMAP_BASE) + offsets.astype(np.uint64), kinds,
                          footprint_mb * MIB_PAGES)


@dataclass(frozen=True)
class SequentialParams:
    """Parameters of ``sequential``."""

    refs: int = refs_param(200_000)
    footprint_mb: int = footprint_param(64)
    element_bytes: int = param(8, key="workload.element_bytes", min=1, max=4096,
                               doc="bytes between consecutive references (a double: 8)")
    write_fraction: float = write_fraction_param(0.0)
    seed: int = seed_param()


def generate_sequential(p: SequentialParams) -> np.ndarray:
    """A streaming pass (and further passes) over the footprint.

    >>> ev = generate_sequential(SequentialParams(refs=4, element_bytes=8))
    >>> [hex(v) for v in ev["va"][-4:]]
    ['0x7f0000000000', '0x7f0000000008', '0x7f0000000010', '0x7f0000000018']
    """
    rng = np.random.default_rng(p.seed)
    span = p.footprint_mb << 20
    offsets = (np.arange(p.refs, dtype=np.uint64) * np.uint64(p.element_bytes)) % np.uint64(span)
    return _stream(offsets, exact_writes(rng, p.refs, p.write_fraction), p.footprint_mb)


@dataclass(frozen=True)
class StridedParams:
    """Parameters of ``strided``."""

    refs: int = refs_param(200_000)
    footprint_mb: int = footprint_param(64)
    stride: int = param(4096, key="workload.stride", min=1, max=1 << 30, unit="bytes",
                        doc="bytes between consecutive references (4096: a new page each)")
    write_fraction: float = write_fraction_param(0.0)
    seed: int = seed_param()


def generate_strided(p: StridedParams) -> np.ndarray:
    """References ``stride`` bytes apart, wrapping at the end of the footprint.

    >>> ev = generate_strided(StridedParams(refs=3, footprint_mb=1, stride=0x80000))
    >>> [hex(v) for v in ev["va"][-3:]]
    ['0x7f0000000000', '0x7f0000080000', '0x7f0000000000']
    """
    rng = np.random.default_rng(p.seed)
    # refs <= 1e8 and stride <= 2**30, so i * stride stays far below 2**64.
    offsets = (np.arange(p.refs, dtype=np.uint64) * np.uint64(p.stride)) \
        % np.uint64(p.footprint_mb << 20)
    return _stream(offsets, exact_writes(rng, p.refs, p.write_fraction), p.footprint_mb)


@dataclass(frozen=True)
class RandomParams:
    """Parameters of ``random`` (GUPS-like)."""

    refs: int = refs_param(200_000, doc="memory references (ACCESS events; a GUPS update is 2)")
    footprint_mb: int = footprint_param(256)
    read_modify_write: bool = param(
        True, key="workload.read_modify_write",
        doc="GUPS updates: each read of a random word is followed by a write of the same word")
    write_fraction: float = write_fraction_param(
        0.5, when={"workload.read_modify_write": False})
    seed: int = seed_param()


def generate_random(p: RandomParams) -> np.ndarray:
    """Uniform random words over the footprint.

    >>> ev = generate_random(RandomParams(refs=6, footprint_mb=1))[-6:]
    >>> ev["arg"].tolist(), bool((ev["va"][0::2] == ev["va"][1::2]).all())
    ([0, 1, 0, 1, 0, 1], True)
    """
    rng = np.random.default_rng(p.seed)
    pages = p.footprint_mb * MIB_PAGES
    if p.read_modify_write:
        updates = (p.refs + 1) // 2
        word = rng.integers(0, pages * (PAGE // 8), size=updates, dtype=np.uint64)
        offsets = np.repeat(word * np.uint64(8), 2)[: p.refs]
        kinds = np.tile(np.array([Access.READ, Access.WRITE], dtype=np.uint32), updates)
        return _stream(offsets, kinds[: p.refs], p.footprint_mb)
    word = rng.integers(0, pages * (PAGE // 8), size=p.refs, dtype=np.uint64)
    kinds = exact_writes(rng, p.refs, p.write_fraction)
    return _stream(word * np.uint64(8), kinds, p.footprint_mb)


@dataclass(frozen=True)
class ZipfParams:
    """Parameters of ``zipf``."""

    refs: int = refs_param(200_000)
    footprint_mb: int = footprint_param(256)
    zipf_s: float = param(0.99, key="workload.zipf_s", min=0.0, max=5.0,
                          doc="exponent s: page of rank k drawn with weight k^-s "
                              "(0.99: YCSB's zipfian constant; 0: uniform)")
    write_fraction: float = write_fraction_param(0.1)
    seed: int = seed_param()


def zipf_ranks(rng: np.random.Generator, n: int, items: int, s: float) -> np.ndarray:
    """``n`` draws of ranks 0..items-1 with P(rank k) proportional to (k+1)^-s.

    >>> r = zipf_ranks(np.random.default_rng(0), 100_000, 1000, 1.0)
    >>> bool(0.12 < (r == 0).mean() < 0.14)   # 1 / H(1000) = 0.134
    True
    """
    weights = np.arange(1, items + 1, dtype=np.float64) ** -s
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(ranks, items - 1).astype(np.uint64)


def generate_zipf(p: ZipfParams) -> np.ndarray:
    """Zipf-popular pages, hot pages scattered over the region.

    >>> from workloads.memory.events import summarize
    >>> s = summarize(generate_zipf(ZipfParams(refs=10_000, footprint_mb=64, zipf_s=1.2)))
    >>> s.touched_pages < 16384 // 4
    True
    """
    rng = np.random.default_rng(p.seed)
    pages = p.footprint_mb * MIB_PAGES
    placement = rng.permutation(pages).astype(np.uint64)
    page = placement[zipf_ranks(rng, p.refs, pages, p.zipf_s)]
    offsets = (page << np.uint64(12)) + words(rng, p.refs)
    return _stream(offsets, exact_writes(rng, p.refs, p.write_fraction), p.footprint_mb)


@dataclass(frozen=True)
class PointerChaseParams:
    """Parameters of ``pointer-chase``."""

    refs: int = refs_param(200_000)
    footprint_mb: int = footprint_param(256)
    node_bytes: int = param(64, key="workload.node_bytes", min=8, max=4096, unit="bytes",
                            doc="size of a list node (a cache line: 64)")
    write_fraction: float = write_fraction_param(0.0)
    seed: int = seed_param()


def generate_pointer_chase(p: PointerChaseParams) -> np.ndarray:
    """Each reference loads the next node of a randomly ordered cyclic list.

    >>> p = PointerChaseParams(refs=512, footprint_mb=1, node_bytes=4096)   # 256 nodes
    >>> nodes = ((generate_pointer_chase(p)["va"][-512:] - 0x7f0000000000) // 4096).tolist()
    >>> len(set(nodes)), nodes[:256] == nodes[256:]   # every node once per lap
    (256, True)
    """
    rng = np.random.default_rng(p.seed)
    nodes = (p.footprint_mb << 20) // p.node_bytes
    if p.refs >= nodes:
        order = np.resize(rng.permutation(nodes), p.refs)
    else:
        # A random cycle's first refs nodes are a uniform draw without replacement, which
        # numpy makes without building a permutation of every node.
        order = rng.choice(nodes, size=p.refs, replace=False)
    offsets = order.astype(np.uint64) * np.uint64(p.node_bytes)
    return _stream(offsets, exact_writes(rng, p.refs, p.write_fraction), p.footprint_mb)


WORKLOADS = (
    Workload("sequential", "memory", "one process streaming through a region",
             SequentialParams, generate_sequential),
    Workload("strided", "memory", "one process touching a region at a fixed stride",
             StridedParams, generate_strided),
    Workload("random", "memory", "GUPS-like uniform random updates over a region",
             RandomParams, generate_random),
    Workload("zipf", "memory", "Zipf-popular pages scattered over a region",
             ZipfParams, generate_zipf),
    Workload("pointer-chase", "memory", "dependent loads around a shuffled cyclic list",
             PointerChaseParams, generate_pointer_chase),
)
