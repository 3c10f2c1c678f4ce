"""reconciler layer (see DESIGN.md)."""
