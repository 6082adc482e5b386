"""One checkpoint layout read as another: timm ResNetV2's tensor names as torchvision's.

Shared by the reading of a checkpoint's architecture (``spec_from_weights``) and the loading of a checkpoint
into a model this project builds (``checkpoint.load_into``).
"""

from __future__ import annotations

import re

_TIMM_V2 = (  # timm ResNetV2 name -> torchvision layout
    (re.compile(r"^stem\.conv\."), "conv1."),
    (re.compile(r"^stem\.conv1\."), "conv1.0."),  # the deep stem: conv1.0/1 (conv, BN), .3/.4, .6
    (re.compile(r"^stem\.norm1\."), "conv1.1."),
    (re.compile(r"^stem\.conv2\."), "conv1.3."),
    (re.compile(r"^stem\.norm2\."), "conv1.4."),
    (re.compile(r"^stem\.conv3\."), "conv1.6."),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\."), lambda m: f"layer{int(m.group(1)) + 1}.{m.group(2)}."),
    (re.compile(r"\.norm(\d)\."), lambda m: f".bn{m.group(1)}."),
    (re.compile(r"^norm\."), "post_bn."),
    (re.compile(r"^head\.fc\."), "fc."),
)


def to_torchvision_names(state: dict) -> dict:
    """The same tensors under torchvision's names (timm ResNetV2's are renamed; its 1×1-conv head flattened)."""
    if not any(k.startswith("stages.") for k in state):
        return state
    # a deep stem means average-pool shortcuts (see spec_from_weights' docstring): our Sequential(pool, conv)
    shortcut_conv = ".downsample.1." if "stem.conv1.weight" in state else ".downsample."
    renamed = {}
    for name, tensor in state.items():
        for pattern, replacement in _TIMM_V2:
            name = pattern.sub(replacement, name)
        name = name.replace(".downsample.conv.", shortcut_conv)
        if name == "fc.weight" and tensor.dim() == 4:
            tensor = tensor.flatten(1)
        renamed[name] = tensor
    return renamed
