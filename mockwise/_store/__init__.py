"""The state store: what `mockwise serve` keeps on disk so a restart or a crash loses nothing."""
