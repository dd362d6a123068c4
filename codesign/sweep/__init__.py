"""Design-space sweeps: spec files, expansion into points, execution, the result store."""
