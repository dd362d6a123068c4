"""Hardware blocks: a behavioural model and a PyRTL model of each, proven to agree."""
