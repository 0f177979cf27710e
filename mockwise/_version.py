"""mockwise's version: the one place it is written (pyproject.toml reads it; CHANGELOG.md says what
changed in each, and how a version number is chosen)."""

__version__ = "0.1.0"
