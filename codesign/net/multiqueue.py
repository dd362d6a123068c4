"""``multiqueue``: a VMDq NIC under Xen's netback (Santos et al., USENIX ATC 2008; Ram et al.,
VEE 2009) -- the NIC demultiplexes, the guests' granted buffers are DMA targets.

**Receive** (:func:`paths`). The NIC model's classifier (the ``vmdq`` layout of
:mod:`codesign.net.nicreplay`) places each frame in its VM's queue by (MAC, VLAN) and DMAs it
straight into a receive buffer the guest granted once and the driver domain mapped for the
NIC for good (grant reuse: no grant copy, no per-frame map). Each queue has its own moderated
interrupt. The driver domain still handles the queue (``driver_rx``: ``net.driver.rx`` per
frame and ``net.irq`` per interrupt, on core ``v mod driver_domain.cores``, one ring of
``nic.ring_size - 1`` frames per queue), and its netback still passes each frame to netfront
and notifies it (``netback_rx``: ``net.netback.rx``; ``notify_rx``: at most one event-channel
hypercall per ``pv.copy_batch`` responses, suppressed while netfront has not drained its
ring). No bridge, no grant copy. The guest's side is ``pv-split``'s (``upcall_rx``,
``netfront_rx``, ``stack_rx``).

With several driver-domain cores (``driver_domain.cores``), VM ``v``'s queue and netback run
on core ``v mod cores``: there is no bridge to keep on a core of its own.

**The NIC** is the ``nic`` block (``hw.nic.*``): VM ``v`` takes the physical function's queue
``v + 1`` and a (MAC, VLAN) filter, so ``n`` VMs need ``nic.queues`` >= ``n + 1`` (of the
physical function's, if ``nic.vfs`` splits them) and ``nic.filters`` >= ``n``; their receive
buffers share the physical function's I/O space (``nic.iova_bits``).

**Transmit** is ``pv-split``'s without the bridge: netback posts to the VM's transmit queue
(header copy, the rest mapped, one batch per poll), and the driver domain's driver sends it.

>>> from codesign.net.graph import saturation_pps
>>> from codesign.net import pv_split
>>> from codesign.platforms import load_platform
>>> kvm = load_platform("kvm-nehalem")
>>> mq = saturation_pps(paths(MultiqueueParams(), kvm, vm=0)[0], 1518)
>>> pv = saturation_pps(pv_split.paths(pv_split.PVSplitParams(), kvm, vm=0)[0], 1518)
>>> mq > 1.2 * pv
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics
from codesign.net.common import HEADLINE, check_workload, core, evaluate
from codesign.net.graph import DataPath, Stage
from codesign.net.nicreplay import Layout
from codesign.net.pv_split import PVSplitParams, backend_tx, guest_tx
from codesign.platforms import Platform
from codesign.registry import Mechanism

COSTS = ("cpu.clock_mhz", "net.driver.rx", "net.stack.rx", "net.driver.tx", "net.stack.tx",
         "net.copy_per_byte", "net.irq", "net.netback.rx", "net.netback.tx",
         "net.grant.copy_op", "net.grant.copy_per_byte", "net.grant.map_op", "hypercall.null",
         "irq.inject", "net.napi.poll",
         "memory.latency", "net.csum_per_byte")


@dataclass(frozen=True)
class MultiqueueParams(PVSplitParams):
    """Parameters of ``multiqueue``: ``pv-split``'s (the rings, batches and driver-domain
    cores of netback) and the port's; the NIC runs VMDq queues (:meth:`layout`)."""

    def layout(self) -> Layout:
        """The NIC's configuration: the physical function's queue ``v + 1`` for VM ``v``."""
        return Layout("vmdq")


def paths(p: MultiqueueParams, platform: Platform, vm: int) -> tuple[DataPath, DataPath]:
    """VM ``vm``'s receive path (from the wire) and transmit path (see the module doc)."""
    c = platform.value
    ddv = core(f"dd{vm % p.dd_cores}", "driver_domain", platform)  # no bridge to keep apart
    guest = core(f"vm{vm}", "guest", platform)
    nic = p.nic_resource()
    hv = "hypervisor"
    v = f".{vm}"
    rx = DataPath((
        *p.wire().stages,
        p.nic_stage(),
        Stage("driver_rx" + v, ddv, c("net.driver.rx"), capacity=p.ring_size - 1,
              per_irq=c("net.irq"), **p.napi_poll(platform)),
        Stage("netback_rx" + v, ddv, c("net.netback.rx"), offload="gro"),
        Stage("notify_rx" + v, ddv, 0, per_batch=c("hypercall.null"), batch=p.copy_batch,
              notify="upcall_rx" + v, domain=hv,
              traps=(("hypercall.event_channel", "batch", 1),)),
        Stage("upcall_rx" + v, guest, 0, per_irq=c("irq.inject"), capacity=p.ring_slots,
              domain=hv),
        Stage("netfront_rx" + v, guest, c("net.driver.rx"), per_irq=c("net.irq"),
              offload="gro", **p.napi_poll(platform)),
        Stage("stack_rx" + v, guest, c("net.stack.rx"),
              per_byte=c("net.copy_per_byte") + p.csum_per_byte(platform), offload="gro"),
    ), hold_before="driver_rx" + v)
    tx = DataPath((
        *guest_tx(p, platform, vm, notify="evtchn_tx" + v),
        *backend_tx(p, platform, vm, ddv),
        Stage("driver_tx" + v, ddv, c("net.driver.tx"), offload="tso"),
        Stage("nic_tx", nic, 1),
        *p.wire("tx", buffered=False).stages,
    ))
    return rx, tx


def run(stream: np.ndarray, p: MultiqueueParams, platform: Platform) -> Metrics:
    """Metrics of the guests receiving and sending every frame of ``stream``."""
    return evaluate(stream, p, lambda vm: paths(p, platform, vm), platform)


MECHANISM = Mechanism(
    name="multiqueue",
    accepts=("packets",),
    summary="VMDq NIC + netback: the NIC's classifier picks each VM's queue and DMAs into "
            "granted guest buffers (grant reuse); the driver domain only notifies",
    params=MultiqueueParams,
    run=run,
    costs=COSTS,
    headline=HEADLINE,
    check=check_workload,
    hardware=("nic",),
    version="4",
)
