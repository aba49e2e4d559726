"""Alerts: what a completed session means for our cases, and the analyst's decisions on them."""
