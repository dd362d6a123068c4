"""``vhost``: virtio-net with vhost-net -- KVM's default paravirtual NIC path today.

The guest runs the virtio-net driver; its device's data plane is the host kernel's vhost-net
worker thread, one per VM (``vhost{v}``, a host core of its own, domain ``host``), which
moves frames between the guest's virtqueues and a tap device on the host's software bridge.
Each virtqueue holds ``virtio.ring_size`` frames (256: QEMU's default queue size), one per
descriptor chain. Notifications both ways use the event index (``VIRTIO_RING_F_EVENT_IDX``):
each side tells the other at which index it next wants to be told, so a notification is sent
only if its consumer drained its queue since the last one -- the semantics of a ``notify``
stage (:mod:`codesign.net.graph`). KVM's work (exits, injection, eventfd signals) counts as
``hypervisor``, the guest's as ``guest``, the host's driver, bridge and vhost as ``host``.

**Receive** (:func:`paths`). The wire and the NIC model (the ``shared`` layout of
:mod:`codesign.net.nicreplay`: one queue, owned by the host, its NAPI-driven interrupts),
then on the host core ``host0`` the NIC driver (``driver_rx``: ``net.driver.rx``, ``net.irq``
for the frame carrying an interrupt, a poll round ``net.napi.poll`` per ``napi.budget``
frames; the ring holds ``nic.ring_size - 1`` frames, as ``native-net``'s) and the bridge,
which forwards the frame to the VM's tap (``bridge_rx``: ``net.bridge``). The tap's queue
holds ``tap.queue_len`` frames (500, Linux's default for a tap): a frame for a full queue is
dropped. The VM's vhost worker takes the frame off that queue, takes a buffer from the
guest's receive virtqueue and copies the frame into guest memory (``vhost_rx``:
``net.vhost.rx`` + ``net.vhost.copy_per_byte`` per byte: a source just written by the NIC's
DMA, a guest page not touched lately). Every ``vhost.batch`` frames (64,
``VHOST_NET_BATCH``) and when its queue runs dry it publishes the used entries and signals
the guest through the irqfd if the guest asked for it
(``signal_rx``: the eventfd signal, ``notify.ioeventfd`` hypervisor cycles on the worker's
core: the irqfd is the same eventfd machinery as an ioeventfd, the other way). KVM then
delivers the interrupt on the guest's core ``vm{v}`` (``irq_rx``):

- without posted interrupts (``virtio.posted_interrupts = false``) the running vCPU is kicked
  out by an IPI (``traps.vmexit.external_interrupt``, ``vmexit.kernel``), the interrupt is
  injected (``irq.inject``), and the guest's EOI exits too (``traps.vmexit.eoi``,
  ``vmexit.kernel``), all ``hypervisor`` cycles;
- with them, no exit: ``irq.posted`` cycles of the guest's own (the posted-interrupt
  delivery and the EOI to its virtual APIC), as ``sriov``'s.

The guest's virtio-net interrupt handler schedules its NAPI poll (``virtio_rx``: ``net.irq``
per interrupt, ``net.driver.rx`` per frame, a poll round ``net.napi.poll`` per
``napi.budget`` frames; it re-enables the interrupt by writing the used-event index, a
memory write, when the poll empties the ring) and the stack takes the frame (``stack_rx``:
``net.stack.rx`` + ``net.copy_per_byte``). The receive virtqueue holds ``virtio.ring_size``
frames from the signal until the guest has taken them (``irq_rx``'s capacity): a frame
arriving to a full ring is dropped.

**Transmit.** The guest's stack and driver (``stack_tx``, ``virtio_tx``: ``net.driver.tx``)
put the frame on the transmit virtqueue and kick vhost only if it asked for it (``kick_tx``:
a notification; the kick is a write to the device's notify register that exits,
``traps.vmexit.mmio`` as ``emulated``'s doorbell, handled in the kernel by ioeventfd:
``vmexit.kernel`` + ``notify.ioeventfd``), which wakes the worker. The worker takes the frame
and copies it out of guest memory (``vhost_tx``: ``net.vhost.tx`` +
``net.vhost.copy_per_byte``; the transmit virtqueue holds ``virtio.ring_size`` frames) and
hands it to the tap, whose receive entry into the host's stack, the bridge (``bridge_tx``:
``net.bridge``) and the NIC driver's transmit (``driver_tx``: ``net.driver.tx``) all run in
the worker's context, on its core (``tun_get_user`` calls into the stack synchronously; the
NIC's per-CPU transmit queues keep the workers apart), then the NIC (``nic_tx``) and the
transmit wire.

Not modelled: the scheduler's wake-ups of an idle worker (by the tap on receive, by the
ioeventfd on transmit) and of a halted vCPU (its HLT exits and halt polling) -- workers and
vCPUs are taken as running; vhost's deferral of used-ring updates to the batch's end (only
the signal check is per batch); transmit-completion signals, and the guest's refill of
receive buffers (folded into ``net.driver.rx``); a full virtqueue backing up into the tap's
queue or stopping the guest's queue (the frame is dropped instead); busy polling, zero-copy
transmit (off by default in Linux), mergeable buffers, multiqueue virtio-net (one queue pair
per VM). Offloads: virtio-net negotiates GSO both ways, so with ``offload.gro`` the bridge,
vhost's per-frame work, the guest's driver and stack take a receive super-frame once, and
with ``offload.tso`` the guest's stack and driver, vhost, the bridge and the host's driver a
transmit one (the host NIC cuts it); the copies stay per byte. The run and the metrics are
those of every NIC mechanism (:mod:`codesign.net.common`).

>>> from codesign.net.graph import bottleneck, saturation_pps
>>> from codesign.platforms import load_platform
>>> rx, tx = paths(VhostParams(), load_platform("kvm-nehalem"), vm=0)
>>> [s.name for s in rx.stages][2:]
['driver_rx', 'bridge_rx', 'vhost_rx.0', 'signal_rx.0', 'irq_rx.0', 'virtio_rx.0', 'stack_rx.0']
>>> [s.name for s in tx.stages][:6]
['stack_tx.0', 'virtio_tx.0', 'kick_tx.0', 'vhost_tx.0', 'bridge_tx.0', 'driver_tx.0']
>>> bottleneck(rx, 64)       # the worker: 1,850 + 64 bytes + a signal per 64 frames
'vhost0'
>>> round(saturation_pps(rx, 64)) == round(2.9e9 / (1850 + 64 * 1.0 + 560 / 64))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics
from codesign.net.common import HEADLINE, PortParams, check_workload, core, evaluate
from codesign.net.graph import DataPath, Stage
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism

__all__ = ["COSTS", "HEADLINE", "VhostParams", "paths", "run"]

COSTS = ("cpu.clock_mhz", "net.driver.rx", "net.stack.rx", "net.driver.tx", "net.stack.tx",
         "net.copy_per_byte", "net.irq", "net.napi.poll", "net.bridge", "net.vhost.rx",
         "net.vhost.tx", "net.vhost.copy_per_byte", "vmexit.kernel", "notify.ioeventfd",
         "irq.inject", "irq.posted", "memory.latency", "net.csum_per_byte")


@dataclass(frozen=True)
class VhostParams(PortParams):
    """Parameters of ``vhost`` (and the port's, :class:`~codesign.net.common.PortParams`).

    >>> VhostParams(vq_size=100)
    Traceback (most recent call last):
    ValueError: virtio.ring_size: expected a power of two, got 100
    """

    vq_size: int = param(256, key="virtio.ring_size", min=2, max=32768,
                         doc="frames each virtqueue (receive, transmit) holds, one descriptor "
                             "chain each, a power of two (256: QEMU's default rx_queue_size "
                             "and tx_queue_size; 32768: a split ring's maximum)")
    posted: bool = param(False, key="virtio.posted_interrupts",
                         doc="posted interrupts (a virtual APIC): the guest's interrupt and "
                             "its EOI exit neither, irq.posted cycles instead of two exits "
                             "and an injection")
    tap_queue: int = param(500, key="tap.queue_len", min=1, max=1 << 20, unit="frames",
                           doc="frames the tap's queue holds for the vhost worker, counting "
                               "the one it is handling (tx_queue_len; TUN_READQ_SIZE, 500, in "
                               "Linux if_tun.h); a frame for a full queue is dropped")
    batch: int = param(64, key="vhost.batch", min=1, max=32768, unit="frames",
                       doc="receive frames vhost handles before it publishes the used entries "
                           "and checks whether the guest wants a signal (VHOST_NET_BATCH, 64 "
                           "in Linux drivers/vhost/net.c); a batch also ends when the worker "
                           "runs dry")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.vq_size & (self.vq_size - 1):
            raise ValueError(f"virtio.ring_size: expected a power of two, got {self.vq_size}")


def paths(p: VhostParams, platform: Platform, vm: int) -> tuple[DataPath, DataPath]:
    """VM ``vm``'s receive path (from the wire) and transmit path (see the module doc)."""
    c = platform.value
    host0 = core("host0", "host", platform)
    worker = core(f"vhost{vm}", "host", platform)
    guest = core(f"vm{vm}", "guest", platform)
    nic = p.nic_resource()
    hv = "hypervisor"
    v = f".{vm}"
    vcopy = c("net.vhost.copy_per_byte")
    byte = c("net.copy_per_byte") + p.csum_per_byte(platform)
    if p.posted:  # no exit; the delivery and the virtual EOI are the guest's own cycles
        irq = Stage("irq_rx" + v, guest, 0, capacity=p.vq_size, per_irq=c("irq.posted"))
    else:
        irq = Stage("irq_rx" + v, guest, 0, capacity=p.vq_size,
                    per_irq=2 * c("vmexit.kernel") + c("irq.inject"), domain=hv,
                    traps=(("vmexit.external_interrupt", "irq", 1), ("vmexit.eoi", "irq", 1)))
    rx = DataPath((
        *p.wire().stages,
        p.nic_stage(),
        Stage("driver_rx", host0, c("net.driver.rx"), capacity=p.ring_size - 1,
              per_irq=c("net.irq"), **p.napi_poll(platform)),
        Stage("bridge_rx", host0, c("net.bridge"), offload="gro"),
        Stage("vhost_rx" + v, worker, c("net.vhost.rx"), per_byte=vcopy,
              capacity=p.tap_queue, offload="gro"),
        Stage("signal_rx" + v, worker, 0, per_batch=c("notify.ioeventfd"), batch=p.batch,
              notify="irq_rx" + v, domain=hv),
        irq,
        Stage("virtio_rx" + v, guest, c("net.driver.rx"), per_irq=c("net.irq"),
              offload="gro", **p.napi_poll(platform)),
        Stage("stack_rx" + v, guest, c("net.stack.rx"), per_byte=byte, offload="gro"),
    ), hold_before="driver_rx")
    tx = DataPath((
        Stage("stack_tx" + v, guest, c("net.stack.tx"), per_byte=byte, offload="tso"),
        Stage("virtio_tx" + v, guest, c("net.driver.tx"), offload="tso"),
        Stage("kick_tx" + v, guest, 0, per_batch=c("vmexit.kernel") + c("notify.ioeventfd"),
              batch=1, notify="vhost_tx" + v, domain=hv,
              traps=(("vmexit.mmio", "batch", 1),)),
        Stage("vhost_tx" + v, worker, c("net.vhost.tx"), per_byte=vcopy, capacity=p.vq_size,
              offload="tso"),
        Stage("bridge_tx" + v, worker, c("net.bridge"), offload="tso"),
        Stage("driver_tx" + v, worker, c("net.driver.tx"), offload="tso"),
        Stage("nic_tx", nic, 1),
        *p.wire("tx", buffered=False).stages,
    ))
    return rx, tx


def run(stream: np.ndarray, p: VhostParams, platform: Platform) -> Metrics:
    """Metrics of the guests receiving and sending every frame of ``stream``."""
    return evaluate(stream, p, lambda vm: paths(p, platform, vm), platform)


MECHANISM = Mechanism(
    name="vhost",
    accepts=("packets",),
    summary="virtio-net with vhost-net: a host worker per VM copies between the tap and the "
            "virtqueues; event-index suppression of ioeventfd kicks and irqfd interrupts, "
            "interrupts with exits or posted",
    params=VhostParams,
    run=run,
    costs=COSTS,
    headline=HEADLINE,
    check=check_workload,
    hardware=("nic",),
    version="2",
)
