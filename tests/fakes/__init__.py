"""Local fakes of external services, for tests (no test reaches the network)."""
