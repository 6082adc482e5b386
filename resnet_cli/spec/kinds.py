"""The closed sets of choices a ``ResNetSpec`` is made of: block, stem, pooling, attention, stride placement,
shortcut, conv biases, activation. Each value is what the command line and the JSON documents spell; an enum
whose flag was a boolean before it had a third value takes ``true``/``false`` too (its ``_missing_``).
Nothing here imports torch.
"""

from __future__ import annotations

import enum

from resnet_cli.base.errors import UsageError
from resnet_cli.base.values import parse_bool


class BlockKind(str, enum.Enum):
    """The residual block. Pre-activation forms are the Identity Mappings paper's (He et al. 2016b)."""

    BASIC = "basic"
    BOTTLENECK = "bottleneck"
    PREACT_BASIC = "preact-basic"
    PREACT_BOTTLENECK = "preact-bottleneck"

    @property
    def expansion(self) -> int:
        return 4 if self in (BlockKind.BOTTLENECK, BlockKind.PREACT_BOTTLENECK) else 1

    @property
    def is_bottleneck(self) -> bool:
        return self.expansion == 4

    @property
    def is_preact(self) -> bool:
        return self in (BlockKind.PREACT_BASIC, BlockKind.PREACT_BOTTLENECK)


class StemKind(str, enum.Enum):
    """The layers before the first stage."""

    CONV7 = "7x7"  # 7×7/2 conv (+ BN, ReLU) — the ResNet paper, torchvision, Keras
    DEEP = "deep"  # three 3×3 convs, the first with stride 2 — "ResNet-C" of Bag of Tricks, timm's c/d
    CIFAR = "cifar"  # one 3×3/1 conv — the ResNet paper's CIFAR-10 nets (section 4.2)


class StemPool(str, enum.Enum):
    """What halves the resolution after the stem conv(s). ``true``/``false`` still name max/none."""

    MAX = "max"  # 3×3/2 max-pool: the ResNet paper, torchvision, timm
    CONV = "conv"  # 3×3/2 conv + BN + activation: ResNet-RS (Bello et al. 2021), timm's replace_stem_pool
    NONE = "none"  # no pooling: the CIFAR nets
    # zero-pad 1, then an unpadded 3×3/2 max-pool: Keras's ResNetV2, whose stem has no ReLU before the pool, so a
    # padded 0 can be the maximum where torch's padding (−∞) never is
    ZERO_MAX = "zero-max"

    @classmethod
    def _missing_(cls, value):
        return _truth_alias(cls, value, cls.MAX, cls.NONE)


class Attention(str, enum.Enum):
    """The channel attention of every block (timm's ``attn_layer``, held in the block's ``se`` slot)."""

    NONE = "none"
    SE = "se"  # squeeze-and-excitation (Hu et al. 2018): mean → 1×1 conv → ReLU → 1×1 conv → sigmoid
    ECA = "eca"  # efficient channel attention (Wang et al. 2020): mean → 1-D conv across channels → sigmoid

    @classmethod
    def _missing_(cls, value):
        return _truth_alias(cls, value, cls.SE, cls.NONE)


class AttentionAt(str, enum.Enum):
    """Where the attention sits in a block: the integration strategies of the SE paper (Hu et al., Fig. 5)."""

    STANDARD = "standard"  # on the residual branch, before the addition: SENet, timm, ResNet-RS
    PRE = "pre"  # on the block's input, before the residual branch (so on its input channels)
    POST = "post"  # after the addition (and the block's final activation)
    IDENTITY = "identity"  # on the shortcut, parallel to the residual branch


class Activation(str, enum.Enum):
    """The nonlinearity of the stem and the blocks (squeeze-excitation keeps its ReLU, as in timm)."""

    RELU = "relu"
    SILU = "silu"  # x·sigmoid(x), "swish"


def _truth_alias(kind, value, if_true, if_false):
    # the boolean spellings the flag took before it had more than two values (--stem-pool true, --se false)
    try:
        return if_true if parse_bool(str(value), "") else if_false
    except UsageError:
        return None


class StrideAt(str, enum.Enum):
    """Where a stage's downsampling stride sits."""

    FIRST_1X1 = "v1"  # first 1×1 conv of the first block: the original paper, Keras ResNet50
    CONV3X3 = "v1.5"  # 3×3 conv of the first block: torchvision, timm ("ResNet-B")
    LAST_BLOCK = "last-block"  # last block of the stage: Keras ResNet50V2


class Shortcut(str, enum.Enum):
    """The shortcut of a block whose input and output shapes differ."""

    PROJECTION = "projection"  # 1×1 conv (with the stride) + BN: the paper's option B
    AVGPOOL = "avgpool"  # 2×2 average pool, then 1×1 conv + BN: Bag of Tricks "ResNet-D"
    ZERO_PAD = "zero-pad"  # subsample and pad channels with zeros, no parameters: option A


class ConvBias(str, enum.Enum):
    """Which convolutions carry a bias."""

    NONE = "none"  # torchvision, timm, the papers' PyTorch ports
    ALL = "all"  # Keras ResNet50/101/152 (every Conv2D keeps use_bias=True)
    UNLESS_NORMALIZED = "unless-bn"  # Keras ResNet*V2: convs not followed directly by a BatchNorm
