"""Layer 5: the structural reading of one analysis: layers, blocks, alignment, receptive fields."""
