"""Page walker, page-walk caches and nested TLB: a behavioural model and a PyRTL model that agree.

The page-walk cache (one dimension) and the nested TLB are also blocks of their own, with a
behavioural twin each (``caches``) and RTL sharing the walker's logic (``cache_rtl``).

>>> from hwmodels.pagewalk import PageWalkModel, WalkerParams, WalkRequest
>>> from hwmodels.pagewalk.tables import NestedImage
>>> img = NestedImage(guest_levels=4, host_levels=4)
>>> img.map(0x1000, 0x300000)
>>> w = PageWalkModel(WalkerParams(), img.mem)
>>> req = WalkRequest.nested(0x1000, img.guest.root, img.ept.root, vm=1)
>>> [w.walk(req).refs for _ in range(2)]   # 24 uncached; caches help from the first walk on
[13, 2]
>>> e = w.walk(req)   # the PT's gPA (guest PWC) hits the nested TLB: its entry + 1 host ref
>>> e.gpwc, e.ntlb_hit, e.dims
(2, 1, (0, 1))
"""

from hwmodels.pagewalk.caches import NTLBEvent, NTLBModel, NTLBOp, PWCEvent, PWCModel, PWCOp
from hwmodels.pagewalk.model import PageWalkModel
from hwmodels.pagewalk.ops import (
    COUNTER_NAMES,
    CacheOp,
    Fault,
    WalkBatch,
    WalkEvent,
    WalkEvents,
    WalkOp,
    WalkRequest,
    count_events,
)
from hwmodels.pagewalk.params import (
    NTLBBlockParams,
    NTLBParams,
    PWCBlockParams,
    PWCParams,
    WalkerParams,
)

__all__ = [
    "COUNTER_NAMES",
    "CacheOp",
    "Fault",
    "NTLBBlockParams",
    "NTLBEvent",
    "NTLBModel",
    "NTLBOp",
    "NTLBParams",
    "PWCBlockParams",
    "PWCEvent",
    "PWCModel",
    "PWCOp",
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
