"""Use cases: what the CLI, the demo and a scheduler run, each one call over the rooms below."""
