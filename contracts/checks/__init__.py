"""The judge's checks, a module per family of obligations, each beside its declarations."""
