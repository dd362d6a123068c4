"""Page walker, page-walk caches and nested TLB: a behavioural model and a PyRTL model that agree.

>>> from hwmodels.pagewalk import PageWalkModel, WalkerParams, WalkRequest
>>> from hwmodels.pagewalk.tables import NestedImage
>>> img = NestedImage(guest_levels=4, host_levels=4)
>>> img.map(0x1000, 0x300000)
>>> w = PageWalkModel(WalkerParams(), img.mem)
>>> req = WalkRequest.nested(0x1000, img.guest.root, img.ept.root, vm=1)
>>> [w.walk(req).refs for _ in range(2)]   # 24 uncached; caches help from the first walk on
[13, 1]
"""

from hwmodels.pagewalk.model import PageWalkModel
from hwmodels.pagewalk.ops import (
    COUNTER_NAMES,
    Fault,
    WalkBatch,
    WalkEvent,
    WalkEvents,
    WalkOp,
    WalkRequest,
    count_events,
)
from hwmodels.pagewalk.params import NTLBParams, PWCParams, WalkerParams

__all__ = [
    "COUNTER_NAMES",
    "Fault",
    "NTLBParams",
    "PWCParams",
    "PageWalkModel",
    "WalkBatch",
    "WalkEvent",
    "WalkEvents",
    "WalkOp",
    "WalkRequest",
    "WalkerParams",
    "count_events",
]
