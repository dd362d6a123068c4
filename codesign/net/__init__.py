"""NIC virtualization mechanisms and what they share.

- :mod:`codesign.net.graph`: a data path as stages bound to resources (cores of named
  domains, the NIC, the link), as a ``networkx`` graph, and its bottleneck-law saturation
  throughput (never above line rate); batch, notification and interrupt costs of a stage.
- :mod:`codesign.net.queueing`: the compiled queueing simulation of packets through those
  stages (run to completion on a resource, the oldest packet first on a shared one, ring
  capacities that drop, NIC interrupt holds, a device's moderated interrupts with NAPI,
  batches, notifications with suppression).
- :mod:`codesign.net.nicreplay`: received frames through the NIC behavioural model
  (``hwmodels.nic``) as a mechanism configures it: one shared queue, VMDq queues, or SR-IOV
  functions with strict, deferred or persistent IOMMU mappings.
- :mod:`codesign.net.common`: the port's parameters and the one run every mechanism makes,
  from a packet stream to the issue's metrics.
- Mechanisms: :mod:`~codesign.net.native` (``native-net``: the bare-metal reference; named so
  because ``native`` is the MMU mechanism), :mod:`~codesign.net.emulated` (``emulated``),
  :mod:`~codesign.net.pv_split` (``pv-split``), :mod:`~codesign.net.multiqueue`
  (``multiqueue``), :mod:`~codesign.net.sriov` (``sriov``), :mod:`~codesign.net.vhost`
  (``vhost``: virtio-net with vhost-net, KVM's default paravirtual path).
"""
