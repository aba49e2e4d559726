"""casebridge."""
