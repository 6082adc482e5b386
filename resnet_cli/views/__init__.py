"""Layer 9: a command's report becomes a Document (columns, facts, notes); no arithmetic."""
