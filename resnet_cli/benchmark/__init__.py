"""Layer 7: bench: measured latency, throughput and memory.

(Named benchmark/, not bench/: ``resnet_cli.bench`` is the public API function.)"""
