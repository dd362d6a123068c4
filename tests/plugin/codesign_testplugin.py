"""A third-party plugin used by the engine tests, registered through entry points.

``noise`` generates seeded random samples; ``flaky`` summarizes them, optionally sleeping
(to make a sweep slow enough to kill mid-way) and failing on chosen seeds (to test that a
failing point is stored as failed while the sweep goes on). The tests put this folder on
``sys.path``; its ``.dist-info`` declares the entry points as an installed package would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from codesign.hardware import TLBKeys
from codesign.metrics import Metrics, latency
from codesign.params import param
from codesign.registry import Mechanism, Workload
from hwmodels.tlb import TLBModel


@dataclass(frozen=True)
class NoiseParams:
    seed: int = param(0, key="workload.seed", min=0, doc="seed")
    n: int = param(1000, key="workload.n", min=1, doc="samples")


def generate(p: NoiseParams) -> dict:
    rng = np.random.default_rng(p.seed)
    return {"seed": p.seed, "samples": rng.exponential(1.0, p.n)}


@dataclass(frozen=True)
class FlakyParams:
    sleep_ms: int = param(0, key="flaky.sleep_ms", min=0, doc="time spent per point")
    fail_every: int = param(0, key="flaky.fail_every", min=0,
                            doc="fail when the seed is a multiple of this (0: never)")
    scale: float = param(1.0, key="flaky.scale", min=0.0, doc="multiplies the samples")


def run(data: dict, p: FlakyParams, platform) -> Metrics:
    if p.sleep_ms:
        time.sleep(p.sleep_ms / 1000)
    if p.fail_every and data["seed"] % p.fail_every == 0:
        raise RuntimeError(f"flaky failure at seed {data['seed']}")
    samples = data["samples"] * p.scale * platform.value("memory.latency")
    return Metrics({"noise.sum": float(samples.sum())}) | latency(samples, "us")


WORKLOAD = Workload("noise", "noise", "seeded exponential samples", NoiseParams, generate)
MECHANISM = Mechanism("flaky", ("noise",), "summarizes samples; sleeps and fails on demand",
                      FlakyParams, run, costs=("memory.latency",),
                      headline=("noise.sum", "latency.p99_us"))


@dataclass(frozen=True)
class ProbeParams(TLBKeys):
    pages: int = param(64, key="probe.pages", min=1, max=1 << 20,
                       doc="distinct pages the address stream touches")


def probe(data: dict, p: ProbeParams, platform) -> Metrics:
    """Hits and misses of the behavioural TLB on a skewed page stream (fill on miss)."""
    tlb = TLBModel(p.to_hw())
    pages = (data["samples"] * p.pages / 4).astype(np.int64) % p.pages
    hits = 0
    for page in pages.tolist():
        if tlb.lookup(page << 12).hit:
            hits += 1
        else:
            tlb.fill(page << 12, pfn=page)
    return Metrics({"probe.hits": hits, "probe.misses": len(pages) - hits})


TLB_PROBE = Mechanism("tlb-probe", ("noise",), "behavioural TLB on a skewed page stream",
                      ProbeParams, probe, hardware=("tlb",), headline=("probe.hits",))
