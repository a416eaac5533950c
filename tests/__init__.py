"""The suite: tests/test_*.py, with what they share in tests/support/."""
