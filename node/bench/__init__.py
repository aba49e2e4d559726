"""Benchmarks measured inside the product (``casebridge bench``), never asserted as timed tests."""
