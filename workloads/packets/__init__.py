"""Packet workloads: frame streams for the NIC mechanisms (kind ``"packets"``).

Every packet workload generates the same thing: a *packet stream*, one numpy structured array
of dtype :data:`~workloads.packets.frames.PACKET_DTYPE`, one record per Ethernet frame crossing
the port (arrival time in ns, frame size, direction, VM, MACs, VLAN, the IPv4 4-tuple that
feeds the flow hash, and the exchange id of ``rpc`` frames). The contract is in
:mod:`workloads.packets.frames`; :func:`~workloads.packets.frames.validate` checks it,
:func:`~workloads.packets.frames.summarize` counts and measures rates,
:func:`~workloads.packets.frames.format_packets` prints,
:func:`~workloads.packets.frames.line_rate_pps` is RFC 5180's line rate, and
:func:`~workloads.packets.frames.segment` cuts the super-frames of a host with TSO/GSO/GRO
(a capture's frames may be up to 262,148 bytes) into the MTU-sized frames of the wire.

Workloads: size mixes at an offered rate with constant, Poisson or on/off arrivals, several
VMs, ``rpc`` and ``bulk`` (:mod:`~workloads.packets.synthetic`); real captures, and a writer
that saves any stream as one (:mod:`~workloads.packets.pcap`).

>>> sorted(w.name for w in WORKLOADS)
['bimodal', 'bulk', 'fixed', 'imix', 'pcap', 'rpc', 'sequence']
>>> from codesign.params import build
>>> from codesign.registry import Registry
>>> w = Registry.of(WORKLOADS).workload("imix")
>>> s = w.generate(build(w.params, {"workload.packets": 12, "workload.offered_gbps": 10}))
>>> summarize(s).bytes
4342
>>> build(w.params, {}).offered_pps     # no rate set: 100,000 frames/s (DEFAULT_OFFERED_PPS)
100000
>>> build(w.params, {"workload.offered_gbps": 1, "workload.offered_pps": 10}, origin="spec.toml")
Traceback (most recent call last):
codesign.errors.InputError: spec.toml: set at most one of workload.offered_gbps and workload.offered_pps (neither: 100000 frames/s)
"""  # noqa: E501

from workloads.packets import pcap, synthetic
from workloads.packets.frames import (
    PACKET_DTYPE,
    Counts,
    Dir,
    Role,
    format_packets,
    line_rate_pps,
    segment,
    summarize,
    validate,
    wire_frames,
)

WORKLOADS = synthetic.WORKLOADS + pcap.WORKLOADS

__all__ = [
    "PACKET_DTYPE",
    "WORKLOADS",
    "Counts",
    "Dir",
    "Role",
    "format_packets",
    "line_rate_pps",
    "segment",
    "summarize",
    "validate",
    "wire_frames",
]
