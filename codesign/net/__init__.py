"""NIC virtualization mechanisms and what they share.

- :mod:`codesign.net.graph`: a data path as stages bound to resources (cores of named
  domains, the NIC, the link), as a ``networkx`` graph, and its bottleneck-law saturation
  throughput (never above line rate).
- :mod:`codesign.net.queueing`: the compiled queueing simulation of packets through those
  stages (FIFO per stage, the oldest packet first on a shared resource, ring capacities that
  drop, interrupt holds).
- :mod:`codesign.net.native`: ``native-net``, the bare-metal reference on the NIC model.
"""
