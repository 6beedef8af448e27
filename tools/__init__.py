"""CLI entry points only: one module per command, each a thin wrapper over one public API call (STYLE.md §5)."""
