"""Layer 1, torch-free: what a ResNet is (ResNetSpec), the registry of named variants, closed-form counts."""
