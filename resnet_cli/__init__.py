"""resnet-cli: build any ResNet variant and see exactly what it costs.

The Python API (see docs/api.md) is importable from here; torch is imported only when a function is
called, so ``import resnet_cli`` is instant::

    import resnet_cli
    resnet_cli.summary("resnet50").to_dict()["total"]["params"]      # 25557032
    resnet_cli.flops("my_resnet.py:build", input="1x3x32x32", training=True)
    resnet_cli.compare("resnet50", "resnet50_v1")
    model = resnet_cli.build("resnet50", groups=32, width_per_group=4)
    resnet_cli.draw("resnet50").save("resnet50.svg")
"""

__version__ = "0.2.0"  # the one version: pyproject.toml reads it from here
# resnet_cli.api's functions, loaded on first use
_API = ("build", "variants", "summary", "flops", "compare", "draw", "bench", "profile")
__all__ = [*_API, "__version__"]


def __getattr__(name):
    if name in _API:
        from resnet_cli import api

        return getattr(api, name)
    raise AttributeError(f"module 'resnet_cli' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
