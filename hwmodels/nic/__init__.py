"""Multi-queue virtualizable NIC: classifier, descriptor rings, DMA through an IOTLB, moderated
interrupts, SR-IOV functions -- a behavioural model and a PyRTL model that agree event for event.

>>> from hwmodels.nic import NICModel, NICOp, NICParams, Status
>>> nic = NICModel(NICParams(queues=4, vfs=1, filters=2, ring_size=4, iova_bits=16,
...                          iotlb_entries=8))
>>> nic.step(NICOp.filter(0, mac=0xAA, vlan=0, queue=2, fn=1)).status == Status.DENIED
True
"""

from hwmodels.nic.model import NICModel, toeplitz
from hwmodels.nic.ops import (
    COUNTER_NAMES,
    NEXT,
    NICEvent,
    NICFrontend,
    NICOp,
    NICResult,
    Op,
    OpBatch,
    Perm,
    Ring,
    Status,
    count_events,
)
from hwmodels.nic.params import NICParams

__all__ = [
    "COUNTER_NAMES",
    "NEXT",
    "NICEvent",
    "NICFrontend",
    "NICModel",
    "NICOp",
    "NICParams",
    "NICResult",
    "Op",
    "OpBatch",
    "Perm",
    "Ring",
    "Status",
    "count_events",
    "toeplitz",
]
