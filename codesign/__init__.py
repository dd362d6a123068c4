"""codesign: hardware-software co-design exploration for virtualization.

The toolkit compares software (shadow paging, paravirtualization) and hardware-assisted
(nested paging, tagged TLBs, multi-queue / SR-IOV NICs) ways of virtualizing the MMU and
the NIC on the same workloads, and prices the hardware that removes software costs.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas

__version__ = "0.1.0"


def load_results(store: str | PathLike[str]) -> pandas.DataFrame:
    """A pandas DataFrame of a result store: one row per design point, one column per
    parameter and metric (see :func:`codesign.results.load_results`)."""
    from codesign.results import load_results as _load

    return _load(store)
