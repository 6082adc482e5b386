"""Shared by every layer, torch-free: our errors, value parsing at the edge, atomic file writes."""
