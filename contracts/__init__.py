"""Contract suites that judge any Wise client against the mockwise sandbox (filled by a later issue)."""
