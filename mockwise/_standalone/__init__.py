"""The standalone server and its command line: `mockwise serve`, `certs`, `health`, `reset`."""
