"""Tagged TLB: parameters, a behavioural model and a PyRTL model that agree event for event.

>>> from hwmodels.tlb import TLBArrayParams, TLBModel, TLBParams
>>> tlb = TLBModel(TLBParams(l4k=TLBArrayParams(entries=16, ways=4, policy="plru")))
>>> _ = tlb.fill(0x1000, pfn=0x99)
>>> tlb.lookup(0x1abc).hit
1
"""

from hwmodels.tlb.model import TLBModel
from hwmodels.tlb.ops import (
    COUNTER_NAMES,
    EventBatch,
    Op,
    OpBatch,
    PageSize,
    Perm,
    TLBEvent,
    TLBFrontend,
    TLBOp,
    count_events,
)
from hwmodels.tlb.params import DISABLED, TLBArrayParams, TLBParams

__all__ = [
    "COUNTER_NAMES",
    "DISABLED",
    "EventBatch",
    "Op",
    "OpBatch",
    "PageSize",
    "Perm",
    "TLBArrayParams",
    "TLBEvent",
    "TLBFrontend",
    "TLBModel",
    "TLBOp",
    "TLBParams",
    "count_events",
]
