"""The node home, its configuration file and the identity bundle that agencies exchange."""
