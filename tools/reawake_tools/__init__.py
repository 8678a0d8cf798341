"""Tools for people and tests: the `reawake` CLI, the local stack, the demo and the CSV imports.
Installed by the Makefile (pip install -e .), never shipped in the Lambda layer."""
