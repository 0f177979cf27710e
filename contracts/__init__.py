"""Contract suites that judge any Wise client against the mockwise sandbox (see docs/obligations.md)."""
