"""The registry as a table: each variant's parameters, MACs and FLOPs at its default input (for `list`).

Every figure comes from ``resnet_cli.spec.closed_form`` (arithmetic on the spec, checked equal to the analysis core
for every variant in the tests), so `list` neither imports torch nor analyses a model, and keeps no cache.
"""

from __future__ import annotations

from resnet_cli.spec import registry
from resnet_cli.spec.closed_form import counts


def catalog(family: str | None = None) -> list[dict]:
    """One record per registered variant (of ``family``, or all), in registry order."""
    entries = []
    for variant in registry.in_family(family):
        figures = counts(variant.spec, variant.default_input)
        entries.append(
            {
                "name": variant.name,
                "family": variant.family,
                "block": variant.spec.block.value,
                "layers": list(variant.spec.layers),
                "params": figures.params,
                "flops": figures.flops,
                "macs": figures.macs,
                "gflops": round(figures.flops / 1e9, 3),
                "gmacs": round(figures.macs / 1e9, 3),
                "input": list(variant.default_input),
                "description": variant.description,
            }
        )
    return entries


def families(family: str | None = None) -> list[dict]:
    """The families shown (all, or ``family``): name, title and the reference their variants are checked against."""
    return [
        {"name": f.name, "title": f.title, "reference": f.reference}
        for f in registry.FAMILIES.values()
        if family is None or f.name == family
    ]
