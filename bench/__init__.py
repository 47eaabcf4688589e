"""servebench's benchmark harness: `python -m bench` (see bench/scenarios.yaml and bench/__main__.py)."""
