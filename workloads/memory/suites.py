"""Named suites: mixes of memory workloads that stress one side of MMU virtualization each.

A suite is data: a name, what it is for, and a tuple of (workload, parameters) mixes. Each mix
is a design point's workload half, so a sweep over a suite runs every mix under every
mechanism: ``[workload] suite = "pt-update-heavy"`` (or a list of suites) in a sweep spec, the
points labelled ``workload.mix = "<suite>/<mix>"`` (see :mod:`codesign.sweep.spec`). Sizes are
moderate (a suite replays in tens of seconds per mechanism): a spec scales them with its own
``workload.*`` values, which override the mixes' (``codesign/specs/mmu-suites.toml``).

What the suites separate (the claim of Wang et al., VEE 2011, that neither shadow nor nested
paging wins everywhere):

``pt-update-heavy``
    Page-table updates per reference are high: fork (tables copied, copy-on-write faults on
    both sides), mmap / mprotect / munmap churn, shootdowns. Shadow paging traps on each
    update; paravirtual direct paging batches them per system call; nested paging does not
    care. (``tests/workloads`` checks: at least one update per 100 references.)
``tlb-miss-heavy``
    Footprints far beyond TLB reach (1536 STLB entries x 4 KiB = 6 MiB) with little reuse:
    GUPS, a pointer chase, a page stride, a mild Zipf. Every miss is a walk; nested paging's
    2D walks cost most, shadow paging's 1D walks least. (Checked: more than 10 distinct pages
    per 100 references and at least 8 x 1536 pages touched.) Little reuse also means that most
    references first-touch their page: in the OS model each is a demand fault, which every
    mechanism prices too, and which outweighs the walk in these mixes.
``switch-heavy``
    Context switches and VM switches with short time slices: CR3-write exits under shadow
    paging, TLB flushes where PCID/VPID tags are off.
``balanced``
    A bit of everything: a stream, a hot Zipf set, a few processes switching, some churn and
    forks; no single cost dominates.
``steady-state``
    One mix of each kind, sized so that the TLB-bound mixes reach steady state: GUPS, a
    pointer chase and a Zipf set over 32-64 MiB (5-10x the STLB's reach) referenced tens of
    times per page, so walks, not first-touch faults, dominate them; next to them fork loops,
    mmap churn at two intensities and time-sliced processes and VMs. The MMU study in
    ``reports/mmu`` runs it. (Checked: the TLB-bound mixes touch more than 5 x 1536 pages and
    reference each at least 20 times on average.)

>>> [m.workload for m in suite("switch-heavy").mixes]
['context-switch', 'multi-vm']
>>> suite("pt-update-heavy").mixes[0].values()
{'workload.iterations': 100}
>>> [m.label for m in suite("pt-update-heavy").mixes]
['forkwait', 'forkwait-big-heap', 'mmap-churn', 'mmap-churn-shootdowns']
>>> suite("tlb-heavy")
Traceback (most recent call last):
codesign.errors.InputError: unknown suite 'tlb-heavy'; did you mean 'tlb-miss-heavy'?
"""

from __future__ import annotations

from dataclasses import dataclass

from codesign.errors import InputError, suggest
from codesign.params import Scalar


@dataclass(frozen=True)
class Mix:
    """One workload with parameter values (dotted keys; defaults fill the rest).

    ``name`` tells the mixes of one suite apart; it starts with the workload's name and is
    the workload's name alone for the suite's first mix of that workload.
    """

    workload: str
    params: tuple[tuple[str, Scalar], ...] = ()
    name: str = ""

    @property
    def label(self) -> str:
        """The mix's name within its suite (the workload's name when none is given)."""
        return self.name or self.workload

    def values(self) -> dict[str, Scalar]:
        """The parameters as a dictionary, as a ``Point`` takes them."""
        return dict(self.params)


@dataclass(frozen=True)
class Suite:
    """A named, documented tuple of mixes."""

    name: str
    summary: str
    mixes: tuple[Mix, ...]


def _mix(workload: str, name: str = "", **params: Scalar) -> Mix:
    return Mix(workload, tuple((f"workload.{k}", v) for k, v in params.items()), name)


SUITES: tuple[Suite, ...] = (
    Suite("pt-update-heavy", "page-table updates dominate: fork, mmap churn, shootdowns", (
        _mix("forkwait", iterations=100),
        _mix("forkwait", "forkwait-big-heap", iterations=30, heap_pages=2048, child_pages=16),
        _mix("mmap-churn"),
        _mix("mmap-churn", "mmap-churn-shootdowns", region_pages=4, refs_per_cycle=8,
             remote_cpus=3),
    )),
    Suite("tlb-miss-heavy", "footprints far beyond TLB reach, little reuse", (
        _mix("random", footprint_mb=1024),
        _mix("pointer-chase", footprint_mb=1024),
        _mix("strided", footprint_mb=256, stride=4096),
        _mix("zipf", footprint_mb=1024, zipf_s=0.5),
    )),
    Suite("switch-heavy", "context switches and VM switches with short time slices", (
        _mix("context-switch", processes=8, time_slice=1000),
        _mix("multi-vm", vms=4, processes=2, time_slice=2000, vm_time_slice=5000),
    )),
    Suite("steady-state", "one mix of each kind; TLB-bound footprints referenced tens of "
          "times per page", (
        _mix("forkwait", iterations=150),
        _mix("mmap-churn", "mmap-churn-light", cycles=300, refs_per_cycle=1024,
             heap_pages=2048),
        _mix("mmap-churn", "mmap-churn-heavy", cycles=300, refs_per_cycle=32,
             heap_pages=2048),
        _mix("random", "random-gups-32m", footprint_mb=32, refs=800_000),
        _mix("pointer-chase", "pointer-chase-32m", footprint_mb=32, refs=500_000),
        _mix("zipf", "zipf-64m", footprint_mb=64, zipf_s=0.8, refs=800_000),
        _mix("context-switch", processes=8, time_slice=2000, refs=200_000),
        _mix("multi-vm", vms=4, processes=2, time_slice=2000, vm_time_slice=10_000,
             refs=200_000),
    )),
    Suite("balanced", "streams, a hot set, switching, some churn and forks", (
        _mix("sequential"),
        _mix("zipf"),
        _mix("context-switch"),
        _mix("mmap-churn", cycles=500, refs_per_cycle=256),
        _mix("forkwait", iterations=30),
    )),
)


def suite(name: str) -> Suite:
    """The suite called ``name``; InputError with the closest name otherwise."""
    for s in SUITES:
        if s.name == name:
            return s
    names = [s.name for s in SUITES]
    raise InputError(f"unknown suite {name!r}" + (suggest(name, names)
                                                  or f" (known: {', '.join(names)})"))


def suite_names() -> list[str]:
    """Names of the suites, in declaration order.

    >>> suite_names()
    ['pt-update-heavy', 'tlb-miss-heavy', 'switch-heavy', 'steady-state', 'balanced']
    """
    return [s.name for s in SUITES]
