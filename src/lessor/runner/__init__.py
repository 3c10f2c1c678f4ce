"""runner layer (see DESIGN.md)."""
