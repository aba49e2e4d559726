"""What every room of the node stands on: the error root, the clock, logging, the CPU worker pool."""
