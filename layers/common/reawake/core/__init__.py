"""The shared kernel every feature builds on: leads, events, kinds, the clock, settings, durations,
tokens, URLs as browsers read them, DynamoDB conversion, the table and config adapters, scoring,
and what two or more features share: the report's counters (every feature writes them), the bot
and scanner rules (alerts and counters), Japanese holidays (step mail, call lists, counters), the
approach record (segments → step mail)."""
