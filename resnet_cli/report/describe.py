"""What each row contains, in words: "1 projection + 2 identity bottlenecks", "7×7/2 conv 3→64".

Reads the model's modules (never changes them): this project's blocks, torchvision's and timm's are named by
what they are; anything else by its type and the numbers that shape its cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resnet_cli.report.stages import OWN_OPS

if TYPE_CHECKING:
    from resnet_cli.report.stages import StageLayout


_BLOCK_NOUN = {"Bottleneck": "bottleneck", "BasicBlock": "basic block"}


def describe_module(module) -> str:
    """A short description of one module: its type and the numbers that shape its cost."""
    kind = type(module).__name__
    if kind in ("Conv2d", "Conv1d", "Conv3d"):
        k = "×".join(str(s) for s in module.kernel_size)
        stride = module.stride[0]
        text = f"{k}{'/' + str(stride) if stride > 1 else ''} conv {module.in_channels}→{module.out_channels}"
        if module.groups > 1:
            text += f", {module.groups} groups"
        if module.dilation[0] > 1:
            text += f", dilation {module.dilation[0]}"
        return text + (" +bias" if module.bias is not None else "")
    if kind.startswith("BatchNorm"):
        return f"batch norm {module.num_features}"
    if kind == "Linear":
        return f"fc {module.in_features}→{module.out_features}"
    if kind == "MaxPool2d":
        k, s = module.kernel_size, module.stride
        return f"{k}×{k}/{s} max-pool" if isinstance(k, int) else f"max-pool {k}/{s}"
    if kind == "AvgPool2d":
        k, s = module.kernel_size, module.stride
        return f"{k}×{k}/{s} avg-pool" if isinstance(k, int) else f"avg-pool {k}/{s}"
    if kind == "AdaptiveAvgPool2d":
        return "global avg-pool"
    if kind in ("ReLU", "Sigmoid"):
        return kind
    if kind in _BLOCK_NOUN:
        noun = ("pre-act " if getattr(module, "preact", False) else "") + _BLOCK_NOUN[kind]
        text = f"{getattr(module, 'shortcut_kind', 'identity')} {noun}"
        strides = [m.stride[0] for m in module.modules() if type(m).__name__ == "Conv2d"]
        if max(strides, default=1) > 1:
            text += f", stride {max(strides)}"
        return text + (f", {_attention_noun(module.se)}" if getattr(module, "se", None) is not None else "")
    if kind == "SqueezeExcite":
        return f"squeeze-excite {module.fc1.in_channels}→{module.fc1.out_channels}→{module.fc2.out_channels}"
    if kind == "EfficientChannelAttention":
        return f"ECA, {module.conv.kernel_size[0]}-tap 1-D conv across channels"
    if kind == "ZeroPadShortcut":
        return "zero-pad shortcut"
    if kind == "Sequential":  # a deep stem or a shortcut: its convs and pools carry the cost
        parts = [
            describe_module(m)
            for m in module.children()
            if not type(m).__name__.startswith(("BatchNorm", "ReLU", "SiLU", "Identity"))
        ]
        return ", ".join(parts)
    return kind


def _block_noun(block) -> str | None:
    """'bottleneck' / 'basic block' for the residual block classes of torchvision, timm and this project."""
    name = type(block).__name__
    if "Bottleneck" in name:
        noun = "bottleneck"
    elif name in ("BasicBlock", "PreActBasic", "PreActBasicBlock"):
        noun = "basic block"
    else:
        return None
    return ("pre-act " if getattr(block, "preact", False) or name.startswith("PreAct") else "") + noun


def _shortcut_kind(block) -> str:
    """The shortcut of a block: ours records it; torchvision's and timm's keep it in ``downsample``."""
    kind = getattr(block, "shortcut_kind", None)
    if kind is not None:
        return kind
    shortcut = getattr(block, "downsample", None)
    if shortcut is None:
        shortcut = getattr(block, "shortcut", None)
    if shortcut is None or not list(shortcut.parameters()):
        return (
            "identity" if shortcut is None or type(shortcut).__name__ in ("Identity", "Sequential") else "subsampling"
        )
    kinds = {type(m).__name__ for m in shortcut.modules()}
    return "avg-pool projection" if any("AvgPool" in k for k in kinds) else "projection"


def _attention_noun(module) -> str:
    return "ECA" if type(module).__name__ == "EfficientChannelAttention" else "squeeze-excite"


def describe_stage(children) -> str:
    """A stage of residual blocks as Keras tutorials and the paper's figures name them."""
    blocks = list(children)
    nouns = [_block_noun(b) for b in blocks]
    if blocks and all(nouns) and len(set(nouns)) == 1:
        noun = nouns[0] + "s"
        se = getattr(blocks[0], "se", None)
        if se is not None and list(se.parameters()):
            noun += f" with {_attention_noun(se)}"
        counts: dict[str, int] = {}
        for block in blocks:
            kind = _shortcut_kind(block)
            counts[kind] = counts.get(kind, 0) + 1
        parts = [f"{n} {kind}" for kind, n in counts.items()]
        return " + ".join(parts) + " " + noun
    return ", ".join(describe_module(b) for b in blocks)


def describer(model, layout: StageLayout | None = None):
    """A function from row name to description, reading (never changing) ``model``."""
    modules = dict(model.named_modules())

    def describe_unit(unit: str) -> str:
        module = modules.get(unit)
        if module is None:
            return ""
        parent = modules.get(layout.block_parent.get(unit, unit)) if layout else module
        if (list(parent.children()) and parent is not module) or type(module).__name__ in ("Sequential", "ModuleList"):
            return describe_stage(parent.children())
        return describe_module(module)

    def describe(name: str) -> str:
        if name.endswith(OWN_OPS):
            base = name[: -len(OWN_OPS)]
            return "ops in " + (type(modules[base]).__name__ if base in modules else "forward") + ".forward"
        units = layout.units_of(name) if layout else ()
        if units:  # a stage row: one unit (torchvision's layer1, timm's stages.0) or a group (stem, head)
            if len(units) == 1:
                return describe_unit(units[0])
            return ", ".join(p for p in (describe_module(modules[u]) for u in units if u in modules) if p)
        module = modules.get(name)
        return describe_module(module) if module is not None else ""

    return describe
