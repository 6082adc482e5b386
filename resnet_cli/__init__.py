"""resnet-cli: build any ResNet variant and see exactly what it costs."""

__version__ = "0.1.0"
