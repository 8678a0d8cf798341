"""Revisit alerts: the pure domain, the DynamoDB adapter and the alert function's entry."""
