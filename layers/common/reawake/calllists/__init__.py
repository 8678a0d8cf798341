"""Owner call lists: the pure domain, the DynamoDB adapter and the call-list function's entry."""
