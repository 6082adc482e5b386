"""Layer 8: a Document becomes a table, JSON, CSV or Markdown; figures become files."""
