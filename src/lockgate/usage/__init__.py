"""Usage records, spend reports and feedback."""
