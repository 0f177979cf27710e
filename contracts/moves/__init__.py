"""What a story can do: a module per family of moves, all of them together in `World`."""
