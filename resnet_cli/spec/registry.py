"""The named variants, gathered from their families (``resnet_cli/spec/families/``), and their lookup.

``VARIANTS`` and ``FAMILIES`` keep the order ``resnet-cli list`` shows; ``resolve`` looks a name up, suggesting the
closest names when it is unknown. Every family names the outside reference its variants are checked against (the
tests in tests/test_references.py and tests/test_families.py).
"""

from __future__ import annotations

from resnet_cli.base.errors import UsageError
from resnet_cli.base.text import close_matches
from resnet_cli.spec.families import SOURCES
from resnet_cli.spec.fields import ResNetSpec
from resnet_cli.spec.variant import CIFAR_INPUT, IMAGENET_INPUT, Family, Variant  # noqa: F401  (re-exported)

FAMILIES: dict[str, Family] = {family.name: family for source in SOURCES for family in source.FAMILIES}
VARIANTS: dict[str, Variant] = {variant.name: variant for source in SOURCES for variant in source.VARIANTS}

# A spec described by flags alone starts from this base (torchvision's ResNet-50 defaults).
CUSTOM = Variant("custom", "custom", ResNetSpec(), "described by flags", IMAGENET_INPUT)


def in_family(family: str | None) -> list[Variant]:
    """The variants of ``family`` (every variant for None), in registry order."""
    return [v for v in VARIANTS.values() if family is None or v.family == family]


def lookup(name: str) -> Variant | None:
    """The variant registered under ``name`` (case-insensitive, '-' = '_'), ``custom``, or None."""
    key = name.strip().lower().replace("-", "_")
    if key == "custom":
        return CUSTOM
    return VARIANTS.get(key)


def resolve(name: str) -> Variant:
    """The variant registered under ``name``, else a UsageError with the closest names."""
    variant = lookup(name)
    if variant is not None:
        return variant
    key = name.strip().lower().replace("-", "_")
    close = close_matches(key, VARIANTS)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UsageError(f"unknown model '{name}'; {hint}run `resnet-cli list` for the {len(VARIANTS)} known names")
