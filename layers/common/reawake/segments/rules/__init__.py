"""The segment rule language: the YAML model, loading files, the compiled predicate and per-condition
explanations."""
