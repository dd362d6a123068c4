"""Data-cache hierarchy (L1D, L2, LLC): parameters and a behavioural model of which level
serves each reference. It caches lines, not translations (compare ``hwmodels.pagewalk``).

>>> import numpy as np
>>> from hwmodels.cache import CacheModel, CacheParams, SERVED_NAMES
>>> cache = CacheModel(CacheParams())
>>> [SERVED_NAMES[lv] for lv in cache.access(np.array([0x2000, 0x2008], dtype=np.uint64))]
['memory', 'l1']
"""

from hwmodels.cache.model import (
    CacheModel,
    CacheTails,
    LLCVariants,
    access_addr,
    access_batch,
    access_line,
    invalidate_line,
)
from hwmodels.cache.params import (
    ABSENT,
    INCLUSIONS,
    LEVEL_NAMES,
    MEMORY,
    SERVED_NAMES,
    CacheLevelParams,
    CacheParams,
)

__all__ = [
    "ABSENT",
    "INCLUSIONS",
    "LEVEL_NAMES",
    "MEMORY",
    "SERVED_NAMES",
    "CacheLevelParams",
    "CacheModel",
    "CacheParams",
    "CacheTails",
    "LLCVariants",
    "access_addr",
    "access_batch",
    "access_line",
    "invalidate_line",
]
