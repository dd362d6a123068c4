"""Reports computed from a result store alone."""
