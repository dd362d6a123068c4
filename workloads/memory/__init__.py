"""Memory workloads: OS-event streams for the MMU mechanisms (kind ``"memory"``).

Every memory workload generates the same thing: an *OS-event stream*, one numpy structured
array of dtype :data:`~workloads.memory.events.EVENT_DTYPE` whose records are user-mode
references (``ACCESS``) interleaved with the guest OS's address-space events (``MAP``,
``UNMAP``, ``PROTECT``, ``FORK``, ``EXIT``, ``SPAWN``), context switches (``SWITCH``: a CR3
write), hypervisor VM switches (``VM_SWITCH``), TLB shootdowns and system-call boundaries
(``SYSCALL``, and a ``syscall`` ordinal on every update, which is what Xen's lazy-MMU
batching batches over). The contract — fields, kinds, invariants — is in
:mod:`workloads.memory.events`; :func:`~workloads.memory.events.validate` checks it,
:func:`~workloads.memory.events.summarize` counts, :func:`~workloads.memory.events.format_events`
prints, :class:`~workloads.memory.events.StreamBuilder` builds small streams by hand.

Frames, page tables, huge pages and host backing are *not* in the stream: the guest-OS model
of the mechanisms turns MAPs and first touches into frame allocations and page-table writes at
concrete guest-physical addresses, so every mechanism sees the same tables.

Workloads (:mod:`~workloads.memory.synthetic`, :mod:`~workloads.memory.osevents`,
:mod:`~workloads.memory.lackey`; named mixes in :mod:`~workloads.memory.suites`):

>>> sorted(w.name for w in WORKLOADS)    # doctest: +NORMALIZE_WHITESPACE
['context-switch', 'forkwait', 'lackey', 'mmap-churn', 'multi-vm', 'pointer-chase', 'random',
 'sequential', 'strided', 'zipf']
>>> from codesign.registry import default_registry
>>> w = default_registry().workload("forkwait")
>>> from codesign.params import build
>>> summarize(w.generate(build(w.params, {"workload.iterations": 5}))).forks
5
"""

from workloads.memory import lackey, osevents, synthetic
from workloads.memory.events import (
    EVENT_DTYPE,
    RW,
    RWX,
    RX,
    Access,
    Counts,
    Ev,
    Prot,
    StreamBuilder,
    Syscall,
    format_events,
    summarize,
    validate,
)

WORKLOADS = synthetic.WORKLOADS + osevents.WORKLOADS + lackey.WORKLOADS

__all__ = [
    "EVENT_DTYPE",
    "RW",
    "RWX",
    "RX",
    "WORKLOADS",
    "Access",
    "Counts",
    "Ev",
    "Prot",
    "StreamBuilder",
    "Syscall",
    "format_events",
    "summarize",
    "validate",
]
