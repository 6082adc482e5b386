"""Which options a comparison takes: the one place the rules live, for the command line and the API alike.

Blocks (``compare basic bottleneck``) take a width and a size; models take an input, stages, weights and the
architecture fields. Each rule raises an ``OptionError`` whose template names the options as the caller wrote
them (``--input`` on the command line, ``input`` from Python).
"""

from __future__ import annotations

from collections.abc import Mapping

from resnet_cli.base.errors import OptionError
from resnet_cli.comparison.blocks import classify

#: Options that only a block comparison reads, and those that only a model comparison reads (beside the
#: architecture fields, which change registered models).
BLOCK_ONLY = ("channels", "size", "draw")
MODEL_ONLY = ("input", "stages", "chart", "export_weights", "seed", "weights")


def _verb(names: list[str]) -> str:
    return "applies" if len(names) == 1 else "apply"


def _named(names: list[str]) -> str:
    return ", ".join("{" + name + "}" for name in names)


def check_options(things: list[str], given: Mapping[str, bool], fields: tuple[str, ...] = ()) -> str:
    """'blocks' or 'models' for ``things``; an OptionError for an option the comparison does not take.

    ``given`` says, for each option by its Python name, whether the caller gave it; ``fields`` are the
    architecture fields given as overrides."""
    kind = classify(list(things))
    if kind == "blocks":
        model_only = list(fields) + [name for name in MODEL_ONLY if given.get(name)]
        if model_only:
            raise OptionError(
                f"{_named(model_only)} {_verb(model_only)} to model comparisons; blocks take {{channels}} and {{size}}"
            )
        return kind
    block_only = [name for name in BLOCK_ONLY if given.get(name)]
    if block_only:
        raise OptionError(
            f"{_named(block_only)} {_verb(block_only)} to block comparisons; models take {{input}} NxCxHxW"
        )
    if given.get("seed") and not given.get("export_weights"):
        raise OptionError("{seed} applies to {export_weights} (the seed of the weights it ports)")
    if given.get("seed") and given.get("weights"):
        raise OptionError(
            "{seed} initialises the first model's weights; with {weights} they come from the "
            "checkpoint: give one of the two"
        )
    return kind
