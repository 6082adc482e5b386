"""Layer 7: compare: blocks side by side, models aligned and diagnosed, weights ported.

(Named comparison/, not compare/: ``resnet_cli.compare`` is the public API function.)"""
