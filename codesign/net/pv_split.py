"""``pv-split``: Xen's paravirtual split driver -- netfront in the guest, netback and a software
bridge in a driver domain that owns the physical NIC.

**Receive** (:func:`paths`). A frame crosses the wire and the NIC model (the ``shared`` layout
of :mod:`codesign.net.nicreplay`: one queue owned by the driver domain, its moderated
interrupts), then the driver domain's core ``dd0`` runs its NIC driver (``driver_rx``:
``net.driver.rx``, ``net.irq`` for the frame carrying the interrupt; its ring holds
``nic.ring_size - 1`` frames) and the bridge, which demultiplexes by destination MAC to the
VM's backend (``bridge_rx``: ``net.bridge``). The VM's netback (on the driver domain's core
0 with one core; with ``driver_domain.cores`` = k > 1 on core ``1 + v mod (k - 1)``, core 0
keeping the NIC's driver and the bridge) takes a request from the guest's receive ring
(``netback_rx``: ``net.netback.rx``) and has Xen copy the frame into the granted guest page
(``grant_copy_rx``, hypervisor cycles: ``net.grant.copy_op`` + ``net.grant.copy_per_byte`` per
byte), up to ``pv.copy_batch`` copies per ``GNTTABOP_copy`` hypercall
(``traps.hypercall.grant_copy``, ``hypercall.null`` each; 64 in Linux ``xen-netback``). After
each batch it pushes the responses and notifies the guest through the event channel only if
netfront asked for it -- it drained its ring since the last notification
(``traps.hypercall.event_channel``, ``hypercall.null``). The guest's core takes the event
(``upcall_rx``: ``irq.inject`` hypervisor cycles; netfront's handler ``net.irq``), netfront
hands the frame up (``netfront_rx``: ``net.driver.rx``) and the guest's stack takes it
(``stack_rx``: ``net.stack.rx`` + ``net.copy_per_byte``). The shared ring holds
``pv.ring_slots`` frames (256 for one 4 KiB page, ``netif.h``): a frame arriving to a full
ring is dropped.

**Transmit.** The guest's stack and netfront (``stack_tx``, ``netfront_tx``) put the frame on
the transmit ring and notify netback if it drained since the last notification
(``notify_tx``: an event-channel hypercall). Netback (``evtchn_tx``: ``irq.inject`` and
``net.irq`` when woken; ``netback_tx``: ``net.netback.tx``) handles one batch per poll (up to
``pv.tx_batch`` requests, 256): one ``GNTTABOP_copy`` for the first ``pv.header_bytes`` bytes
of each frame (``grant_copy_tx``) and one map hypercall for the rest of the frames longer
than that (``grant_map_tx``: ``net.grant.map_op`` per frame; the batch's later unmap is a
second hypercall, ``traps.hypercall.grant_unmap``), then the bridge and the driver domain's
NIC driver send it (``bridge_tx``, ``driver_tx``) to the NIC and the wire.

The driver domain's cores are domain ``driver_domain``; Xen's own work on them (copies,
maps, hypercall entries) and on the guest's (event delivery, notification hypercalls) counts
as ``hypervisor``. Not modelled: transmit-completion notifications to the guest, the
guest's re-posting of receive buffers (folded into ``net.driver.rx``), segmentation offloads.

>>> from codesign.net.graph import bottleneck
>>> from codesign.platforms import load_platform
>>> rx, tx = paths(PVSplitParams(), load_platform("kvm-nehalem"), vm=0)
>>> [s.name for s in rx.stages][:6]
['wire_rx', 'nic_rx', 'driver_rx', 'bridge_rx', 'netback_rx.0', 'grant_copy_rx.0']
>>> bottleneck(rx, 1518), bottleneck(tx, 1518)
('dd0', 'dd0')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics
from codesign.net.common import (
    HEADLINE,
    PortParams,
    backend_core,
    check_workload,
    core,
    evaluate,
)
from codesign.net.graph import DataPath, Stage
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism

COSTS = ("cpu.clock_mhz", "net.driver.rx", "net.stack.rx", "net.driver.tx", "net.stack.tx",
         "net.copy_per_byte", "net.irq", "net.bridge", "net.netback.rx", "net.netback.tx",
         "net.grant.copy_op", "net.grant.copy_per_byte", "net.grant.map_op", "hypercall.null",
         "irq.inject", "net.napi.poll",
         "memory.latency", "net.csum_per_byte")


@dataclass(frozen=True)
class PVSplitParams(PortParams):
    """Parameters of ``pv-split`` (and the port's, :class:`~codesign.net.common.PortParams`)."""

    ring_slots: int = param(256, key="pv.ring_slots", min=2, max=1 << 16,
                            doc="slots of each shared ring, one frame each (256: one 4 KiB "
                                "page, Linux include/xen/interface/io/netif.h)")
    copy_batch: int = param(64, key="pv.copy_batch", min=1, max=4096,
                            doc="grant copies per GNTTABOP_copy hypercall on receive (64: "
                                "Linux xen-netback)")
    tx_batch: int = param(256, key="pv.tx_batch", min=1, max=4096,
                          doc="transmit requests netback handles per poll, one copy and one "
                              "map hypercall each (up to a ring's worth: xen-netback)")
    header_bytes: int = param(128, key="pv.header_bytes", min=0, max=9022, unit="bytes",
                              doc="bytes of a transmitted frame grant-copied; the rest is "
                                  "grant-mapped (128: xen-netback)")
    dd_cores: int = param(1, key="driver_domain.cores", min=1, max=64,
                          doc="cores of the driver domain: the NIC driver and the bridge run "
                              "on core 0, VM v's netback on core 0 too with one core, else "
                              "on core 1 + v mod (cores - 1)")


def paths(p: PVSplitParams, platform: Platform, vm: int) -> tuple[DataPath, DataPath]:
    """VM ``vm``'s receive path (from the wire) and transmit path (see the module doc)."""
    c = platform.value
    dd0 = core("dd0", "driver_domain", platform)
    ddv = core(f"dd{backend_core(vm, p.dd_cores)}", "driver_domain", platform)
    guest = core(f"vm{vm}", "guest", platform)
    nic = p.nic_resource()
    hv = "hypervisor"
    hcall = c("hypercall.null")
    v = f".{vm}"
    rx = DataPath((
        *p.wire().stages,
        p.nic_stage(),
        Stage("driver_rx", dd0, c("net.driver.rx"), capacity=p.ring_size - 1,
              per_irq=c("net.irq"), **p.napi_poll(platform)),
        Stage("bridge_rx", dd0, c("net.bridge"), offload="gro"),
        Stage("netback_rx" + v, ddv, c("net.netback.rx"), offload="gro"),
        Stage("grant_copy_rx" + v, ddv, c("net.grant.copy_op"),
              per_byte=c("net.grant.copy_per_byte"), per_batch=hcall, batch=p.copy_batch,
              domain=hv, traps=(("hypercall.grant_copy", "batch", 1),)),
        Stage("notify_rx" + v, ddv, 0, per_batch=hcall, batch=p.copy_batch,
              notify="upcall_rx" + v, domain=hv,
              traps=(("hypercall.event_channel", "batch", 1),)),
        Stage("upcall_rx" + v, guest, 0, per_irq=c("irq.inject"), capacity=p.ring_slots,
              domain=hv),
        Stage("netfront_rx" + v, guest, c("net.driver.rx"), per_irq=c("net.irq"),
              offload="gro", **p.napi_poll(platform)),
        Stage("stack_rx" + v, guest, c("net.stack.rx"),
              per_byte=c("net.copy_per_byte") + p.csum_per_byte(platform), offload="gro"),
    ), hold_before="driver_rx")
    tx = DataPath((
        *guest_tx(p, platform, vm, notify="evtchn_tx" + v),
        *backend_tx(p, platform, vm, ddv),
        Stage("bridge_tx", dd0, c("net.bridge"), offload="tso"),
        Stage("driver_tx", dd0, c("net.driver.tx"), offload="tso"),
        Stage("nic_tx", nic, 1),
        *p.wire("tx", buffered=False).stages,
    ))
    return rx, tx


def guest_tx(p: PVSplitParams, platform: Platform, vm: int, notify: str) -> tuple[Stage, ...]:
    """The guest's side of a transmit: stack, netfront, the event-channel notification."""
    c = platform.value
    guest = core(f"vm{vm}", "guest", platform)
    v = f".{vm}"
    return (
        Stage("stack_tx" + v, guest, c("net.stack.tx"),
              per_byte=c("net.copy_per_byte") + p.csum_per_byte(platform), offload="tso"),
        Stage("netfront_tx" + v, guest, c("net.driver.tx"), offload="tso"),
        Stage("notify_tx" + v, guest, 0, per_batch=c("hypercall.null"), batch=1,
              notify=notify, domain="hypervisor",
              traps=(("hypercall.event_channel", "batch", 1),)),
    )


def backend_tx(p: PVSplitParams, platform: Platform, vm: int, ddv) -> tuple[Stage, ...]:
    """Netback's side of a transmit: woken by the event, one copy and one map batch a poll."""
    c = platform.value
    hv = "hypervisor"
    hcall = c("hypercall.null")
    v = f".{vm}"
    return (
        Stage("evtchn_tx" + v, ddv, 0, per_irq=c("irq.inject"), capacity=p.ring_slots,
              domain=hv),
        Stage("netback_tx" + v, ddv, c("net.netback.tx"), per_irq=c("net.irq"),
              offload="tso"),
        Stage("grant_copy_tx" + v, ddv, c("net.grant.copy_op"),
              per_byte=c("net.grant.copy_per_byte"), bytes_upto=p.header_bytes,
              per_batch=hcall, batch=p.tx_batch, domain=hv, offload="tso",
              traps=(("hypercall.grant_copy", "batch", 1),)),
        Stage("grant_map_tx" + v, ddv, c("net.grant.map_op"), only_above=p.header_bytes,
              per_batch=2 * hcall, batch=p.tx_batch, domain=hv,
              traps=(("hypercall.grant_map", "batch", 1), ("hypercall.grant_unmap", "batch", 1))),
    )


def run(stream: np.ndarray, p: PVSplitParams, platform: Platform) -> Metrics:
    """Metrics of the guests receiving and sending every frame of ``stream``."""
    return evaluate(stream, p, lambda vm: paths(p, platform, vm), platform)


MECHANISM = Mechanism(
    name="pv-split",
    accepts=("packets",),
    summary="Xen netfront/netback: driver domain with a bridge, grant copies batched 64 per "
            "hypercall, event channels with notification suppression",
    params=PVSplitParams,
    run=run,
    costs=COSTS,
    headline=HEADLINE,
    check=check_workload,
    hardware=("nic",),
    version="4",
)
