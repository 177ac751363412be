"""The fault and bad-input suite (`make test-faults`, `python -m tests.faults`)."""
