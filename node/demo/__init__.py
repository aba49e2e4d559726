"""The multi-agency demo on loopback: a front end over the same operations every user runs."""
