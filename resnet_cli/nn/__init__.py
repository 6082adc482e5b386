"""Layer 2: a spec becomes an nn.Module (the blocks, stems and heads)."""
