"""``native-net``: the bare-metal reference for the NIC mechanisms -- one host, one core, one NIC.

**Data path** (:func:`paths`). A received frame crosses the wire (``wire_rx``: ``8 x (frame +
20)`` bit times at ``link.gbps``; ``link.buffer`` frames may wait for it, more are dropped
upstream), the NIC classifies it and DMAs it into the next receive descriptor's buffer
(``nic_rx``: one NIC clock cycle, the model's one operation per cycle), then waits in the
receive ring for the interrupt (moderation) and is processed by the host driver
(``driver_rx``: ``net.driver.rx`` cycles, plus ``net.irq`` for the first frame each interrupt
releases) and the stack (``stack_rx``: ``net.stack.rx`` + ``net.copy_per_byte`` per byte).
The ring holds ``nic.ring_size - 1`` frames (``driver_rx``'s capacity, held frames included):
a frame arriving to a full ring is dropped. A transmitted frame goes the other way: stack
(``stack_tx``), driver (``driver_tx``), NIC DMA (``nic_tx``), its own wire (``wire_tx``,
full duplex). Host stages share one core (``cpu0``, domain ``host``, ``cpu.clock_mhz``).

**NIC model.** Received frames are replayed through :class:`~hwmodels.nic.NICModel` (the
``shared`` layout of :mod:`codesign.net.nicreplay`: one queue, no filter, every VLAN the
stream uses enabled) at the cycle they leave the wire. The IOMMU domain of the host is
identity-mapped (I/O page ``k`` to frame ``k``, read/write), so the DMA is translated through
the IOTLB as on a host with the IOMMU on in pass-through-like identity mode: ``iotlb.misses``
counts the model's misses over the ring's buffers (two 2 KiB buffers per 4 KiB page, as
``ixgbe`` uses them). Each descriptor is re-posted the cycle after it is consumed, so the
model's ring never runs dry: running out of descriptors is decided by the queueing simulation
(the driver's pace), not by the model. The queue's vector runs under NAPI (see
:mod:`codesign.net.common`): an interrupt (``nic.itr_us`` apart at most) releases the held
frames, the vector stays masked while the poll runs and frames arriving meanwhile join it,
and each poll round of up to ``napi.budget`` frames costs ``net.napi.poll``. A frame keeps
its ring slot until the host has finished with it (driver and stack run as one segment, and
drivers refill their rings after the stack has taken the frames).

An IOTLB miss keeps the NIC's receive engine on its frame for the IOMMU's walk
(``iommu.levels`` references at ``memory.latency``: see :mod:`codesign.net.nicreplay`); the
frames waiting for it sit in the NIC's receive buffer (``nic.rx_buffer_kib``), and a frame
that does not fit is dropped. Not modelled: transmit DMA through the model (transmitted
frames cost host cycles, NIC and wire time only). Native has no traps: ``traps.total`` is 0. The
run and the metrics are those of every NIC mechanism (:mod:`codesign.net.common`).

>>> from codesign.net.graph import saturation_pps
>>> from codesign.platforms import load_platform
>>> rx, tx = paths(NativeNetParams(), load_platform("kvm-nehalem"))
>>> [s.name for s in rx.stages], rx.hold_before
(['wire_rx', 'nic_rx', 'driver_rx', 'stack_rx'], 'driver_rx')
>>> round(saturation_pps(rx, 64))  # the core: 2.9e9 / (400 + 1100 + 16 + 300 / 64) cycles
1907032
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics
from codesign.net.common import HEADLINE, PortParams, check_workload, core, evaluate
from codesign.net.graph import DataPath, Stage
from codesign.platforms import Platform
from codesign.registry import Mechanism

__all__ = ["COSTS", "HEADLINE", "NativeNetParams", "paths", "run"]

COSTS = ("cpu.clock_mhz", "net.driver.rx", "net.stack.rx", "net.driver.tx", "net.stack.tx",
         "net.copy_per_byte", "net.irq", "net.napi.poll",
         "memory.latency", "net.csum_per_byte")


@dataclass(frozen=True)
class NativeNetParams(PortParams):
    """Parameters of ``native-net``: the port's (:class:`~codesign.net.common.PortParams`)."""


def paths(p: NativeNetParams, platform: Platform) -> tuple[DataPath, DataPath]:
    """The receive (from the wire) and transmit data paths (see the module doc)."""
    cost = platform.value
    cpu = core("cpu0", "host", platform)
    nic = p.nic_resource()
    byte = cost("net.copy_per_byte")
    csum = p.csum_per_byte(platform)
    rx = DataPath((
        *p.wire().stages,
        p.nic_stage(),
        Stage("driver_rx", cpu, cost("net.driver.rx"), capacity=p.ring_size - 1,
              per_irq=cost("net.irq"), **p.napi_poll(platform)),
        Stage("stack_rx", cpu, cost("net.stack.rx"), per_byte=byte + csum, offload="gro"),
    ), hold_before="driver_rx")
    tx = DataPath((
        Stage("stack_tx", cpu, cost("net.stack.tx"), per_byte=byte + csum, offload="tso"),
        Stage("driver_tx", cpu, cost("net.driver.tx"), offload="tso"),
        Stage("nic_tx", nic, 1),
        *p.wire("tx", buffered=False).stages,
    ))
    return rx, tx


def run(stream: np.ndarray, p: NativeNetParams, platform: Platform) -> Metrics:
    """Metrics of the host receiving and sending every frame of ``stream``."""
    both = paths(p, platform)
    return evaluate(stream, p, lambda vm: both, platform)


MECHANISM = Mechanism(
    name="native-net",
    accepts=("packets",),
    summary="bare-metal host on the NIC model: one queue, one core, moderated interrupts",
    params=NativeNetParams,
    run=run,
    version="5",
    costs=COSTS,
    headline=HEADLINE,
    check=check_workload,
    hardware=("nic",),
)
