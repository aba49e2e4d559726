"""Generated wire code for the casebridge protocol, by protocol version."""
