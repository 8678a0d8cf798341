"""`reawake demo`: the whole story on the local stack, step by step (see scenario.py)."""
