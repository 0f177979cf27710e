"""The HTTP layer: one module per surface, each a list of Starlette routes."""
