"""Segments: who is dormant. The rule language (model), loading YAML (config), the fast
predicate (compile) and per-condition explanations (explain). Import the submodules directly."""
