"""Page-modification logging (Intel PML): the hardware half of dirty-page tracking for live
migration. ``params`` (geometry, with sources), ``ops`` (operations and events), ``model``
(the behavioural twin), ``rtl`` (the PyRTL unit, its Verilog and cost)."""

from hwmodels.pml.model import PMLModel
from hwmodels.pml.ops import EVENT_FIELDS, PMLBatch, PMLEvent, PMLOp, PMLRequest
from hwmodels.pml.params import ENTRIES, INDEX_BITS, PMLParams

__all__ = ["ENTRIES", "EVENT_FIELDS", "INDEX_BITS", "PMLBatch", "PMLEvent", "PMLModel", "PMLOp",
           "PMLParams", "PMLRequest"]
