"""Step mail: sequences (pure), enrollments and the engine, the send slot, the DynamoDB/Step Functions
adapters and the function's entry."""
