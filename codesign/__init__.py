"""codesign: hardware-software co-design exploration for virtualization.

The toolkit compares software (shadow paging, paravirtualization) and hardware-assisted
(nested paging, tagged TLBs, multi-queue / SR-IOV NICs) ways of virtualizing the MMU and
the NIC on the same workloads, and prices the hardware that removes software costs.
"""

__version__ = "0.1.0"
