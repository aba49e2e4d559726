"""casebridge.v1: generated from casebridge.proto by ``make proto``; do not edit by hand."""
