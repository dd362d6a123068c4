"""``sriov``: a virtual function per VM, assigned to it directly; DMA through the IOMMU.

**Receive** (:func:`paths`). The NIC model (the ``sriov`` layout of
:mod:`codesign.net.nicreplay`) classifies each frame by (MAC, VLAN) to its VM's virtual
function, whose queue's buffers are translated in the VF's own IOMMU domain through the
IOTLB, and raises the VF's moderated interrupts. No driver domain, no host stack: the guest's
VF driver (``vf_rx``: ``net.driver.rx``; ring of ``nic.ring_size - 1`` frames) and stack
(``stack_rx``) take the frame on the VM's core. Its interrupt costs (``irq_rx``, on the
guest's core):

- without posted interrupts (``sriov.posted_interrupts = false``) the physical interrupt
  exits to the hypervisor (``traps.vmexit.external_interrupt``, ``vmexit.kernel``), which
  injects it (``irq.inject``), and the guest's EOI exits too (``traps.vmexit.eoi``,
  ``vmexit.kernel``): two exits per interrupt, the direct assignment Gordon et al. measured
  at 60-65 % of bare metal;
- with them (ELI, posted interrupts with a virtual APIC) the interrupt reaches the guest and
  its EOI completes without an exit: no trap, no hypervisor cycle, but the delivery and the
  virtual EOI still cost the guest ``irq.posted`` (ELI measured 97-100 %, not 100 %);
- the guest's own handler costs ``net.irq`` either way.

**IOMMU mapping** (``iommu.strategy``, Amit et al.'s three): with ``persistent`` the VF's
buffers are mapped once and reused (the NIC model's ring reuses page halves). With ``strict``
every buffer is mapped when posted and unmapped after its DMA; the guest's map and unmap each
exit to the hypervisor's emulated IOMMU (``traps.vmexit.iommu_map``,
``traps.vmexit.iommu_unmap``, ``vmexit.kernel`` each), which maps (``iommu.map``) and unmaps
(``iommu.unmap``) the I/O page and invalidates its IOTLB entry (``iommu.invalidate``), all
hypervisor cycles on the guest's core (``iommu_rx``); the NIC model sees the same unmap,
invalidation and re-map, so every DMA misses the IOTLB. ``deferred`` still maps per buffer,
but queues the unmaps: one exit, the queued unmaps and one invalidation of the whole domain
per ``iommu.flush_batch`` buffers (250: Linux ``intel-iommu``'s deferred-flush high-water
mark), whether the guest idles or not. Transmit buffers are mapped the same way
(``iommu_tx``); transmit DMA does not go through the NIC model.

**The NIC** is the ``nic`` block (``hw.nic.*``) with ``nic.vfs`` virtual functions (64, the
82599's): VM ``v`` owns function ``v + 1``, so ``n`` VMs need ``nic.vfs`` >= ``n`` and
``nic.filters`` >= ``n``, and ``nic.queues`` must give every function its pool.

**Transmit.** Stack, VF driver (``vf_tx``: ``net.driver.tx``; its doorbell is a direct
write to the VF's register, no exit), the IOMMU work of the strategy, the NIC, the wire.

>>> from codesign.net.graph import saturation_pps
>>> from codesign.platforms import load_platform
>>> kvm = load_platform("kvm-nehalem")
>>> [round(saturation_pps(paths(SriovParams(strategy=s), kvm, 0)[0], 1518) / 812743, 2)
...  for s in ("strict", "deferred", "persistent")]
[0.36, 0.66, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics
from codesign.net.common import HEADLINE, PortParams, check_workload, core, evaluate
from codesign.net.graph import DataPath, Resource, Stage
from codesign.net.nicreplay import STRATEGIES, Layout
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism

COSTS = ("cpu.clock_mhz", "net.driver.rx", "net.stack.rx", "net.driver.tx", "net.stack.tx",
         "net.copy_per_byte", "net.irq", "vmexit.kernel", "irq.inject", "iommu.map",
         "iommu.unmap", "iommu.invalidate", "irq.posted", "net.napi.poll",
         "memory.latency", "net.csum_per_byte")


@dataclass(frozen=True)
class SriovParams(PortParams):
    """Parameters of ``sriov`` (and the port's, :class:`~codesign.net.common.PortParams`,
    with 64 virtual functions: the 82599's, ANCHORS.md)."""

    vfs: int = param(64, key="nic.vfs", min=0, max=1023,
                     doc="SR-IOV virtual functions, one per VM (64: the Intel 82599's; with "
                         "128 queues, one queue each); function 0 is the physical function")

    posted: bool = param(False, key="sriov.posted_interrupts",
                         doc="exitless interrupts (ELI / posted interrupts): no exit to "
                             "deliver an interrupt nor for its EOI")
    strategy: str = param("persistent", key="iommu.strategy", choices=STRATEGIES,
                          doc="IOMMU mapping of DMA buffers: strict (map and unmap per DMA, "
                              "an IOTLB invalidation each), deferred (invalidations batched), "
                              "persistent (mapped once, reused)")
    flush_batch: int = param(250, key="iommu.flush_batch", min=1, max=1 << 16,
                             when={"iommu.strategy": "deferred"},
                             doc="unmaps per deferred invalidation (250: Linux intel-iommu's "
                                 "HIGH_WATER_MARK)")

    def layout(self) -> Layout:
        """The NIC's configuration: a VF per VM, mapped by the strategy."""
        return Layout("sriov", self.strategy, self.flush_batch)


def _iommu(p: SriovParams, platform: Platform, name: str, guest: Resource) -> tuple[Stage, ...]:
    c = platform.value
    exit_ = c("vmexit.kernel")
    if p.strategy == "persistent":
        return ()
    if p.strategy == "strict":
        return (Stage(name, guest, 2 * exit_ + c("iommu.map") + c("iommu.unmap")
                      + c("iommu.invalidate"), domain="hypervisor",
                      traps=(("vmexit.iommu_map", "packet", 1),
                             ("vmexit.iommu_unmap", "packet", 1))),)
    return (Stage(name, guest, exit_ + c("iommu.map") + c("iommu.unmap"),
                  per_batch=exit_ + c("iommu.invalidate"), batch=p.flush_batch,
                  batch_idle=False, domain="hypervisor",
                  traps=(("vmexit.iommu_map", "packet", 1),
                         ("vmexit.iommu_unmap", "batch", 1))),)


def paths(p: SriovParams, platform: Platform, vm: int) -> tuple[DataPath, DataPath]:
    """VM ``vm``'s receive path (from the wire) and transmit path (see the module doc)."""
    c = platform.value
    guest = core(f"vm{vm}", "guest", platform)
    nic = p.nic_resource()
    v = f".{vm}"
    byte = c("net.copy_per_byte") + p.csum_per_byte(platform)
    if p.posted:  # no exit; the delivery and the virtual EOI are the guest's own cycles
        irq = Stage("irq_rx" + v, guest, 0, capacity=p.ring_size - 1,
                    per_irq=c("irq.posted"))
    else:
        irq = Stage("irq_rx" + v, guest, 0, capacity=p.ring_size - 1,
                    per_irq=2 * c("vmexit.kernel") + c("irq.inject"), domain="hypervisor",
                    traps=(("vmexit.external_interrupt", "irq", 1), ("vmexit.eoi", "irq", 1)))
    rx = DataPath((
        *p.wire().stages,
        p.nic_stage(),
        irq,
        *_iommu(p, platform, "iommu_rx" + v, guest),
        Stage("vf_rx" + v, guest, c("net.driver.rx"), per_irq=c("net.irq"),
              **p.napi_poll(platform)),
        Stage("stack_rx" + v, guest, c("net.stack.rx"), per_byte=byte, offload="gro"),
    ), hold_before="irq_rx" + v)
    tx = DataPath((
        Stage("stack_tx" + v, guest, c("net.stack.tx"), per_byte=byte, offload="tso"),
        Stage("vf_tx" + v, guest, c("net.driver.tx"), offload="tso"),
        *_iommu(p, platform, "iommu_tx" + v, guest),
        Stage("nic_tx", nic, 1),
        *p.wire("tx", buffered=False).stages,
    ))
    return rx, tx


def run(stream: np.ndarray, p: SriovParams, platform: Platform) -> Metrics:
    """Metrics of the guests receiving and sending every frame of ``stream``."""
    return evaluate(stream, p, lambda vm: paths(p, platform, vm), platform)


MECHANISM = Mechanism(
    name="sriov",
    accepts=("packets",),
    summary="a virtual function per VM, DMA through the IOMMU (strict / deferred / persistent "
            "mappings), interrupts with exits or posted (ELI)",
    params=SriovParams,
    run=run,
    costs=COSTS,
    headline=HEADLINE,
    check=check_workload,
    hardware=("nic",),
    version="4",
)
