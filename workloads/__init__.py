"""Workload inputs: memory-reference and packet streams as numpy arrays."""
