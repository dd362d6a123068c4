"""``emulated``: an e1000-style NIC emulated by a user-space device model (QEMU-like) on KVM.

The host owns the physical NIC; its NIC driver, its software bridge and each VM's device
model (the model's I/O thread) run on the host's I/O core(s), counted as the
``driver_domain``: in this mechanism the host plays the driver domain's part. Every register
access of the guest's e1000 driver traps to the device model: ``traps.vmexit.mmio`` (or,
with ``emulated.io = "pio"``, two ``traps.vmexit.pio`` per access: the I/O BAR's address and
data ports), each costed ``vmexit.user`` (an exit to a user-space device model, Dall et al.),
counted as ``hypervisor`` cycles on the guest's core.

**Receive** (:func:`paths`). Wire, NIC model (``shared`` layout: the host's one queue), the
host's driver (``driver_rx``: ``net.driver.rx``, ``net.irq`` per NIC interrupt; its ring
holds ``nic.ring_size - 1`` frames) and bridge (``bridge_rx``: ``net.bridge``), then the VM's
device model (``devmodel_rx``: ``net.devmodel.rx``, and two copies, ``2 x net.copy_per_byte``
per byte: out of the tap device, into the guest's buffer). The emulated device then raises
its interrupt, throttled to one per ``emulated.itr_us`` (the e1000 ITR register, 10 us: the
``e1000e`` floor), unless the guest is still polling (its driver masks the interrupt during a
NAPI poll: frames that arrive meanwhile are picked up without one). The guest's emulated
ring holds ``emulated.ring_size - 1`` frames. An interrupt costs, on the guest's core:

- injection: the vCPU is kicked out of the guest (``traps.vmexit.external_interrupt``,
  ``vmexit.kernel``) and the interrupt injected (``irq.inject``);
- acknowledgement: the handler reads ICR, writes IMC (mask) and reads STATUS to flush it;
  when the poll is done it writes IMS (unmask) and reads STATUS again: 5 register accesses
  (Linux ``e1000_intr`` / ``e1000_irq_enable``), and the EOI to the virtual APIC exits to the
  kernel (``traps.vmexit.eoi``, ``vmexit.kernel``); the guest's own handler costs ``net.irq``.

Per frame the guest's driver (``e1000_rx``: ``net.driver.rx``) refills the ring and writes the
RDT tail register once per 16 buffers (``E1000_RX_BUFFER_WRITE``) and at the end of a poll;
the stack takes the frame (``stack_rx``). With ``emulated.coalesced_mmio`` the device model
registers coalesced MMIO as QEMU's e1000 does (every register but MDIC, ICR, ICS, IMS, IMC,
TCTL and TDT): the RDT writes are then appended to a ring in memory without an exit, and the
device model reads them at its next exit (no cost counted); reads always exit.

**Transmit.** The guest's stack and driver (``stack_tx``, ``e1000_tx``) write the TDT tail
register for each frame (a trap); the device model processes the descriptor within that exit
on the guest's core (``devmodel_tx``: ``net.devmodel.tx`` + two copies, driver-domain
cycles) and hands the frame to the host's bridge and NIC driver (``bridge_tx``, ``driver_tx``).
Transmit-completion interrupts are not modelled.

>>> from codesign.net.graph import saturation_pps
>>> from codesign.platforms import load_platform
>>> rx, tx = paths(EmulatedParams(), load_platform("kvm-nehalem"), vm=0)
>>> saturation_pps(rx, 64) < 1e6
True
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
         "net.copy_per_byte", "net.irq", "net.bridge", "net.devmodel.rx", "net.devmodel.tx",
         "vmexit.user", "vmexit.kernel", "irq.inject", "net.napi.poll",
         "memory.latency", "net.csum_per_byte")
IRQ_ACCESSES = 5
"""Register accesses per interrupt: ICR read, IMC write, STATUS read, IMS write, STATUS read."""
RDT_EVERY = 16
"""Receive buffers refilled per RDT write (Linux ``E1000_RX_BUFFER_WRITE``)."""


@dataclass(frozen=True)
class EmulatedParams(PortParams):
    """Parameters of ``emulated`` (and the port's, :class:`~codesign.net.common.PortParams`)."""

    emu_itr_us: float = param(10.0, key="emulated.itr_us", min=0.0, max=10_000.0, unit="us",
                              doc="the emulated device's interrupt throttle: at most one "
                                  "interrupt per interval (e1000e floor, 10 us)")
    emu_ring: int = param(256, key="emulated.ring_size", min=2, max=4096,
                          doc="descriptors of the guest's emulated receive ring (e1000 "
                              "default 256); a frame for a full ring is dropped")
    coalesced_mmio: bool = param(False, key="emulated.coalesced_mmio",
                                 doc="coalesced MMIO: register writes other than MDIC, ICR, "
                                     "ICS, IMS, IMC, TCTL and TDT do not exit (QEMU e1000)")
    io: str = param("mmio", key="emulated.io", choices=("mmio", "pio"),
                    doc="the BAR the guest driver accesses registers through: memory "
                        "(one MMIO exit per access) or I/O ports (address + data: two PIO "
                        "exits)")
    dd_cores: int = param(1, key="driver_domain.cores", min=1, max=64,
                          doc="the host's I/O cores: the NIC driver and the bridge run on "
                              "core 0, VM v's device model on core 0 too with one core, else "
                              "on core 1 + v mod (cores - 1)")


def paths(p: EmulatedParams, platform: Platform, vm: int) -> tuple[DataPath, DataPath]:
    """VM ``vm``'s receive path (from the wire) and transmit path (see the module doc)."""
    c = platform.value
    dd0 = core("dd0", "driver_domain", platform)
    ddv = core(f"dd{backend_core(vm, p.dd_cores)}", "driver_domain", platform)
    guest = core(f"vm{vm}", "guest", platform)
    nic = p.nic_resource()
    hv = "hypervisor"
    v = f".{vm}"
    exits = 2 if p.io == "pio" else 1  # per register access
    reason = f"vmexit.{p.io}"
    access = exits * c("vmexit.user")
    copy2 = 2 * c("net.copy_per_byte")
    byte = c("net.copy_per_byte") + p.csum_per_byte(platform)
    rdt = () if p.coalesced_mmio and p.io == "mmio" else ((reason, "batch", exits),)
    rx = DataPath((
        *p.wire().stages,
        p.nic_stage(),
        Stage("driver_rx", dd0, c("net.driver.rx"), capacity=p.ring_size - 1,
              per_irq=c("net.irq"), **p.napi_poll(platform)),
        Stage("bridge_rx", dd0, c("net.bridge"), offload="gro"),
        Stage("devmodel_rx" + v, ddv, c("net.devmodel.rx"), per_byte=copy2),
        Stage("irq_rx" + v, guest, 0, capacity=p.emu_ring - 1,
              moderation_ns=p.emu_itr_us * 1e3,
              per_irq=c("vmexit.kernel") + c("irq.inject"), domain=hv,
              traps=(("vmexit.external_interrupt", "irq", 1),)),
        Stage("isr_rx" + v, guest, 0, per_irq=IRQ_ACCESSES * access + c("vmexit.kernel"),
              domain=hv, traps=((reason, "irq", IRQ_ACCESSES * exits),
                                ("vmexit.eoi", "irq", 1))),
        Stage("e1000_rx" + v, guest, c("net.driver.rx"), per_irq=c("net.irq")),
        Stage("rdt_rx" + v, guest, 0, per_batch=0.0 if not rdt else access,
              batch=RDT_EVERY, domain=hv, traps=rdt),
        Stage("stack_rx" + v, guest, c("net.stack.rx"), per_byte=byte, offload="gro"),
    ), hold_before="driver_rx")
    tx = DataPath((
        Stage("stack_tx" + v, guest, c("net.stack.tx"), per_byte=byte, offload="tso"),
        Stage("e1000_tx" + v, guest, c("net.driver.tx"), offload="tso"),
        Stage("tdt_tx" + v, guest, access, domain=hv, traps=((reason, "packet", exits),),
              offload="tso"),
        Stage("devmodel_tx" + v, guest, c("net.devmodel.tx"), per_byte=copy2,
              domain="driver_domain"),
        Stage("bridge_tx", dd0, c("net.bridge")),
        Stage("driver_tx", dd0, c("net.driver.tx")),
        Stage("nic_tx", nic, 1),
        *p.wire("tx", buffered=False).stages,
    ))
    return rx, tx


def run(stream: np.ndarray, p: EmulatedParams, platform: Platform) -> Metrics:
    """Metrics of the guests receiving and sending every frame of ``stream``."""
    return evaluate(stream, p, lambda vm: paths(p, platform, vm), platform)


MECHANISM = Mechanism(
    name="emulated",
    accepts=("packets",),
    summary="e1000-style NIC emulated in user space: every register access exits, "
            "throttled interrupts injected and acknowledged, optional coalesced MMIO",
    params=EmulatedParams,
    run=run,
    costs=COSTS,
    headline=HEADLINE,
    check=check_workload,
    hardware=("nic",),
    version="4",
)
