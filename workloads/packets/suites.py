"""Named suites of packet workloads: mixes that stress one side of NIC virtualization each.

A suite is data, as the memory suites (:mod:`workloads.memory.suites`, whose ``Suite`` and
``Mix`` it uses): a name, what it is for, and (workload, parameters) mixes, each a design
point's workload half with every parameter it needs (its own offered rate included, rather
than the rate-driven workloads' default of 100,000 frames/s). Sizes are moderate (tens of
thousands of frames: a mix runs in well under a second per mechanism); a caller scales them
with its own ``workload.*`` values, which override the mixes'. A sweep spec runs them as it
runs the memory suites, ``[workload] suite = "small-packets"`` (suite names are one namespace:
:func:`codesign.sweep.spec.all_suites`; ``codesign/specs/nic-suites.toml`` runs all five under
the NIC mechanisms).

``small-packets``
    64-byte frames from a tenth of 10 GbE to twice it: per-frame costs dominate (traps,
    notifications, interrupts). Where the emulated device and the paravirtual driver
    saturate, and where moderation and batching pay off.
``mtu-throughput``
    MTU-sized bulk transfers each way and IMIX near line rate: per-byte costs (grant copies,
    the device model's copies) and whether a mechanism reaches the line at all (Dong et al.,
    Ram et al.).
``latency``
    Few frames, far apart: request/response exchanges and a Poisson trickle. Every frame pays
    its whole path alone: exits, notifications, interrupts not amortized.
``multi-vm``
    Several VMs, by MAC and by VLAN, sharing the port: demultiplexing in software (a bridge)
    against the NIC's classifier (VMDq queues, SR-IOV functions), one core per VM.
``balanced-net``
    One mix of each kind (the memory suites have their own ``balanced``: suite names are one
    namespace in a sweep spec).

>>> [m.label for m in suite("latency").mixes]
['rpc', 'fixed-trickle', 'imix-poisson']
>>> suite("small-packets").mixes[0].values()["workload.offered_pps"]
1488095
>>> suite("mtu-throughpt")
Traceback (most recent call last):
codesign.errors.InputError: unknown packet suite 'mtu-throughpt'; did you mean 'mtu-throughput'?
"""

from __future__ import annotations

from codesign.errors import InputError, suggest
from codesign.params import Scalar
from workloads.memory.suites import Mix, Suite

__all__ = ["SUITES", "Mix", "Suite", "suite", "suite_names"]


def _mix(workload: str, name: str = "", **params: Scalar) -> Mix:
    return Mix(workload, tuple((f"workload.{k}", v) for k, v in params.items()), name)


SUITES: tuple[Suite, ...] = (
    Suite("small-packets", "64-byte frames from a tenth of 10 GbE to twice it", (
        _mix("fixed", "fixed-64-10pct", packets=50_000, offered_pps=1_488_095),
        _mix("fixed", "fixed-64-half", packets=50_000, offered_gbps=5.0),
        _mix("fixed", "fixed-64-line", packets=50_000, offered_gbps=10.0),
        _mix("fixed", "fixed-64-overload", packets=50_000, offered_gbps=20.0, link_gbps=20.0),
        _mix("fixed", "fixed-64-tx", packets=50_000, offered_pps=1_000_000, direction="tx"),
    )),
    Suite("mtu-throughput", "MTU-sized transfers and IMIX near the line rate", (
        _mix("bulk", "bulk-rx", packets=30_000, offered_gbps=9.5),
        _mix("bulk", "bulk-tx", packets=30_000, offered_gbps=9.5, direction="tx"),
        _mix("fixed", "fixed-1518-line", packets=30_000, offered_gbps=10.0, frame_bytes=1518),
        _mix("imix", packets=40_000, offered_gbps=9.0),
    )),
    Suite("latency", "few frames far apart: each pays its whole path alone", (
        _mix("rpc", requests=5_000),
        _mix("fixed", "fixed-trickle", packets=5_000, offered_pps=20_000, frame_bytes=512),
        _mix("imix", "imix-poisson", packets=5_000, offered_gbps=0.1, arrival="poisson"),
    )),
    Suite("multi-vm", "VMs sharing the port, by MAC and by VLAN", (
        _mix("imix", "imix-8vm", packets=40_000, offered_gbps=9.0, vms=8),
        _mix("bulk", "bulk-60vm", packets=30_000, offered_gbps=9.5, vms=60),
        _mix("fixed", "fixed-4vm-vlan", packets=40_000, offered_gbps=2.0, vms=4,
             vlan_base=100, frame_bytes=256),
        _mix("imix", "imix-4vm-onoff", packets=40_000, offered_gbps=5.0, vms=4,
             arrival="onoff", burst=64, direction="both"),
    )),
    Suite("balanced-net", "one mix of each kind", (
        _mix("fixed", "fixed-64-half", packets=30_000, offered_gbps=5.0),
        _mix("bulk", "bulk-rx", packets=20_000, offered_gbps=9.5),
        _mix("rpc", requests=3_000),
        _mix("imix", "imix-4vm", packets=30_000, offered_gbps=5.0, vms=4, direction="both"),
    )),
)


def suite(name: str) -> Suite:
    """The packet suite called ``name``; InputError with the closest name otherwise."""
    for s in SUITES:
        if s.name == name:
            return s
    names = [s.name for s in SUITES]
    raise InputError(f"unknown packet suite {name!r}" + (
        suggest(name, names) or f" (known: {', '.join(names)})"))


def suite_names() -> list[str]:
    """Names of the packet suites, in declaration order.

    >>> suite_names()
    ['small-packets', 'mtu-throughput', 'latency', 'multi-vm', 'balanced-net']
    """
    return [s.name for s in SUITES]
