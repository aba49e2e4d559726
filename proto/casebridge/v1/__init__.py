"""casebridge.v1: generated from casebridge.proto by ``python -m node.protogen``; do not edit by hand."""
