"""Running PSI sessions for the node: which elements go in, how results become alerts."""
