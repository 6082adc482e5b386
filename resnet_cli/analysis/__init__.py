"""Layer 3: run a model once and record every ATen operator (the one operator table: ops.py)."""
