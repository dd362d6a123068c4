"""Multi-queue virtualizable NIC: classifier, descriptor rings, DMA through an IOTLB, moderated
interrupts, SR-IOV functions -- a behavioural model and a PyRTL model that agree event for event.

>>> from hwmodels.nic import NICModel, NICOp, NICParams, Status
>>> nic = NICModel(NICParams(queues=4, vfs=1, filters=2, ring_size=4, iova_bits=16,
...                          iotlb_entries=8))
>>> nic.step(NICOp.filter(0, mac=0xAA, vlan=0, queue=2, fn=1)).status == Status.DENIED
True
"""

import importlib
from typing import Any

_WHERE = {
    "NICModel": "model", "toeplitz": "model", "NICParams": "params",
    **dict.fromkeys(("COUNTER_NAMES", "NEXT", "NICEvent", "NICFrontend", "NICOp", "NICResult",
                     "Op", "OpBatch", "Perm", "Ring", "Status", "count_events"), "ops"),
}


def __getattr__(name: str) -> Any:
    # The package's names are imported when first used: a run that needs only the NIC's
    # parameters (every design point's hardware table) does not load its model.
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hwmodels.nic' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hwmodels.nic.{module}"), name)
    globals()[name] = value
    return value


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
