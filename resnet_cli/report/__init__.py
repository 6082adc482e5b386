"""Layer 6: plain numbers per command (summary rows, flops, draw's diagram); no formatting."""
