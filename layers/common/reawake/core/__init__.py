"""The shared kernel every feature builds on: leads, events, kinds, the clock, settings, durations,
tokens, URLs as browsers read them, DynamoDB conversion, the table and config adapters, scoring."""
