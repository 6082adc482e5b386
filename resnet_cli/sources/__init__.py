"""Layer 4: MODEL becomes something to analyse: a registered name, user code, a checkpoint."""
