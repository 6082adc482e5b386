"""One frozen, validated description of a ResNet architecture.

A ``ResNetSpec`` is pure data: the builder (``resnet_cli.nn.model``) turns any valid spec into an
``nn.Module``; the registry (``resnet_cli.spec.registry``) names the variants people use; a user's flags are
``dataclasses.replace`` on a spec followed by ``validate()``. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import typing
from dataclasses import dataclass, field

from resnet_cli.base.errors import OptionError, UsageError
from resnet_cli.base.values import (
    MAX_BLOCKS,
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_STAGES,
    parse_bool_list,
    parse_enum,
    parse_float,
    parse_int,
    parse_int_list,
)
from resnet_cli.spec.kinds import (
    Activation,
    Attention,
    AttentionAt,
    BlockKind,
    ConvBias,
    Shortcut,
    StemKind,
    StemPool,
    StrideAt,
)

# The shortcut of a block, as reports name it.
IDENTITY = "identity"
PROJECTION = "projection"  # 1×1 conv (+ BN): option B
AVGPOOL_PROJECTION = "avg-pool projection"  # 2×2 average pool, then 1×1 conv (+ BN): ResNet-D
ZERO_PAD = "zero-pad"  # subsample and pad channels with zeros: option A
SUBSAMPLE = "subsampling"  # a 1×1 max-pool with a stride: Keras ResNetV2's last block
SHORTCUT_KINDS = (IDENTITY, PROJECTION, AVGPOOL_PROJECTION, ZERO_PAD, SUBSAMPLE)


@dataclass(frozen=True)
class Flag:
    """How a spec field appears on the command line: ``--field-name`` with this help and these bounds.

    ``resnet_cli.cli.options`` turns every field that carries one into an option of every command, with a
    parser chosen by the field's type (enum, int, bool, tuple of ints or bools), so a new field is
    declared here, once, and built in ``resnet_cli.nn.model``. A float field takes ``low``/``high`` as its range;
    an optional field (``int | None``) is parsed as its type, None being "not given".
    """

    help: str
    low: float = 1
    high: float = MAX_CHANNELS
    max_items: int = MAX_STAGES
    metavar: str | None = None

    @staticmethod
    def of(spec_field: dataclasses.Field) -> Flag | None:
        return spec_field.metadata.get("flag")

    @staticmethod
    def option_name(field_name: str) -> str:
        return "--" + field_name.replace("_", "-")


def _flag(help: str, **bounds) -> dict:
    return {"flag": Flag(help, **bounds)}


@dataclass(frozen=True)
class ResNetSpec:
    """Everything that determines a ResNet's structure, and so its parameters and FLOPs."""

    block: BlockKind = field(
        default=BlockKind.BOTTLENECK, metadata=_flag("basic | bottleneck | preact-basic | preact-bottleneck.")
    )
    layers: tuple[int, ...] = field(
        default=(3, 4, 6, 3),
        metadata=_flag("Blocks per stage, e.g. 3,4,6,3 (any number of stages).", high=MAX_BLOCKS, metavar="N,N,..."),
    )
    widths: tuple[int, ...] = field(
        default=(64, 128, 256, 512), metadata=_flag("Base width of each stage, e.g. 64,128,256,512.", metavar="W,W,...")
    )
    stem: StemKind = field(
        default=StemKind.CONV7, metadata=_flag("7x7 | deep (three 3x3 convs, ResNet-C/D) | cifar (one 3x3/1 conv).")
    )
    stem_width: int = field(
        default=64, metadata=_flag("Channels out of the stem (64 for ImageNet nets, 16 for CIFAR).")
    )
    stem_widths: tuple[int, ...] = field(
        default=(),
        metadata=_flag(
            "The deep stem's three conv widths, e.g. 24,32,64 (timm's tiered 't' stem); the last is --stem-width. "
            "Default: half, half, full.",
            max_items=3,
            metavar="W,W,W",
        ),
    )
    stem_pool: StemPool = field(
        default=StemPool.MAX,
        metadata=_flag(
            "max (3x3/2 max-pool) | conv (3x3/2 conv, ResNet-RS) | zero-max (zero pad, then the max-pool: Keras V2) "
            "| none; true/false = max/none."
        ),
    )
    stride_at: StrideAt = field(
        default=StrideAt.CONV3X3,
        metadata=_flag("v1 (first 1x1, the paper) | v1.5 (3x3, torchvision) | last-block (Keras V2)."),
    )
    shortcut: Shortcut = field(
        default=Shortcut.PROJECTION, metadata=_flag("projection (option B) | avgpool (ResNet-D) | zero-pad (option A).")
    )
    groups: int = field(default=1, metadata=_flag("Groups of the 3x3 conv (ResNeXt cardinality)."))
    width_per_group: int = field(
        default=64, metadata=_flag("Width per group (64 = ResNet, 4 = ResNeXt 32x4d, 128 = Wide).")
    )
    expansion: int | None = field(
        default=None,
        metadata=_flag(
            "Block output = expansion x stage width (default: 4 for bottlenecks, 1 for basic blocks).",
            high=64,
            metavar="N",
        ),
    )
    se: Attention = field(
        default=Attention.NONE,
        metadata=_flag(
            "Channel attention in every block: none | se (squeeze-excitation) | eca (ECA-Net); true/false = se/none."
        ),
    )
    se_reduction: int = field(
        default=16,
        metadata=_flag(
            "Squeeze-excitation reduction ratio: C -> C/r channels, rounded to a multiple of 8 (16; ResNet-RS 4)."
        ),
    )
    se_at: AttentionAt = field(
        default=AttentionAt.STANDARD,
        metadata=_flag(
            "Where the attention sits: standard (before the addition) | pre (block input) | post (after the "
            "addition) | identity (on the shortcut)."
        ),
    )
    activation: Activation = field(default=Activation.RELU, metadata=_flag("relu | silu."))
    dilate: tuple[bool, ...] = field(
        default=(),
        metadata=_flag("Per stage after the first: dilation instead of stride, e.g. 0,1,1.", metavar="B,B,..."),
    )
    conv_bias: ConvBias = field(default=ConvBias.NONE, metadata=_flag("none | all (Keras V1) | unless-bn (Keras V2)."))
    drop_rate: float = field(
        default=0.0,
        metadata=_flag(
            "Dropout before the classifier in training (timm's drop_rate); changes no count.",
            low=0,
            high=1,
            metavar="RATE",
        ),
    )
    drop_path_rate: float = field(
        default=0.0,
        metadata=_flag(
            "Stochastic depth in training, rising linearly to this rate at the last block (timm's rule); changes "
            "no count.",
            low=0,
            high=1,
            metavar="RATE",
        ),
    )
    bn_eps: float = field(
        default=1e-5,
        metadata=_flag(
            "BatchNorm epsilon: 1e-5 (torch, timm) | 1.001e-5 (Keras's ResNets); changes no count.",
            low=0,
            high=1,
            metavar="EPS",
        ),
    )
    bn_momentum: float = field(
        default=0.1,
        metadata=_flag(
            "BatchNorm momentum, torch's convention (the new batch's weight): 0.1 (torch) | 0.01 (Keras's 0.99); "
            "changes no count.",
            low=0,
            high=1,
            metavar="M",
        ),
    )
    num_classes: int = field(default=1000, metadata=_flag("Outputs of the final fc layer.", high=MAX_CLASSES))
    in_channels: int = field(default=3, metadata=_flag("Input channels the stem takes."))

    def __post_init__(self) -> None:
        # enum fields given as their values or old booleans (ResNetSpec(stem_pool=False), api overrides)
        for name, kind in _ENUM_FIELDS.items():
            value = getattr(self, name)
            if not isinstance(value, kind):
                object.__setattr__(self, name, parse_enum(kind, value, Flag.option_name(name)))
        # one spelling per network, so equal networks have equal specs (checkpoint identification, "modified:")
        if self.expansion is not None and self.expansion == self.block.expansion:
            object.__setattr__(self, "expansion", None)
        if (
            self.stem is StemKind.DEEP
            and self.stem_width % 2 == 0
            and tuple(self.stem_widths) == (self.stem_width // 2, self.stem_width // 2, self.stem_width)
        ):
            object.__setattr__(self, "stem_widths", ())

    # ---- derived structure (pure arithmetic, used by the builder and the report) ----

    @property
    def num_stages(self) -> int:
        return len(self.layers)

    def stage_strides(self) -> tuple[int, ...]:
        """Stride of each stage: 1 for the first, 2 after (1 where replaced by dilation)."""
        strides = []
        for index in range(self.num_stages):
            if index == 0 or self._dilated(index):
                strides.append(1)
            else:
                strides.append(2)
        return tuple(strides)

    def _dilated(self, stage_index: int) -> bool:
        return stage_index >= 1 and len(self.dilate) >= stage_index and self.dilate[stage_index - 1]

    def stage_dilations(self) -> tuple[int, ...]:
        """Dilation of each stage's 3×3 convs, as torchvision's replace_stride_with_dilation computes it."""
        dilation = 1
        result = []
        for index in range(self.num_stages):
            if self._dilated(index):
                dilation *= 2
            result.append(dilation)
        return tuple(result)

    def block_strides(self, stage_index: int) -> tuple[int, ...]:
        """The stride of each block of one stage, honouring ``stride_at``."""
        count = self.layers[stage_index]
        strides = [1] * count
        if self.stride_at is StrideAt.LAST_BLOCK:
            # Keras ResNetV2: the stride of stage i+1 is applied by the last block of stage i.
            following = self.stage_strides()[stage_index + 1] if stage_index + 1 < self.num_stages else 1
            strides[-1] = following
        else:
            strides[0] = self.stage_strides()[stage_index]
        return tuple(strides)

    def stem_stride(self) -> int:
        conv_stride = 1 if self.stem is StemKind.CIFAR else 2
        return conv_stride * (1 if self.stem_pool is StemPool.NONE else 2)

    def total_stride(self) -> int:
        stride = self.stem_stride()
        for stage_index in range(self.num_stages):
            for block_stride in self.block_strides(stage_index):
                stride *= block_stride
        return stride

    @property
    def block_expansion(self) -> int:
        """Output channels per unit of stage width: ``expansion`` if given, else the block kind's (4 or 1)."""
        return self.block.expansion if self.expansion is None else self.expansion

    def out_channels(self, stage_index: int) -> int:
        return self.widths[stage_index] * self.block_expansion

    def bottleneck_width(self, stage_index: int) -> int:
        """Width of the grouped 3×3 conv: torchvision's int(planes * width_per_group / 64) * groups."""
        return int(self.widths[stage_index] * (self.width_per_group / 64.0)) * self.groups

    def stem_channels(self) -> int:
        return self.stem_width

    def se_channels(self, channels: int) -> int:
        """The squeeze-excitation's reduced width for ``channels``: C / se_reduction rounded to a multiple of 8
        (timm's make_divisible with round_limit=0, as its SEModule calls it)."""
        return make_divisible(channels / self.se_reduction, 8)

    def deep_stem_widths(self) -> tuple[int, int, int]:
        """The three convs of the deep stem: ``stem_widths``, or half, half and the full stem width (timm's
        'deep' stem of the C/D/S variants)."""
        if self.stem_widths:
            return tuple(self.stem_widths)  # type: ignore[return-value]
        return self.stem_width // 2, self.stem_width // 2, self.stem_width

    def shortcut_of(self, cin: int, cout: int, stride: int, first: bool) -> str:
        """The shortcut of a block taking ``cin`` to ``cout`` channels at ``stride`` (``first`` of its stage):
        one of the SHORTCUT_KINDS. The builder makes its module; the closed form counts its cost."""
        shape_changes = stride != 1 or cin != cout
        # Keras ResNetV2 projects in every stage's first block (conv_shortcut=True) and subsamples the
        # last block's identity with a 1×1 max-pool.
        if self.block.is_preact and self.stride_at is StrideAt.LAST_BLOCK:
            if first:
                shape_changes = True
            elif stride != 1 and cin == cout:
                return SUBSAMPLE
        if not shape_changes:
            return IDENTITY
        return {Shortcut.ZERO_PAD: ZERO_PAD, Shortcut.AVGPOOL: AVGPOOL_PROJECTION}.get(self.shortcut, PROJECTION)

    @property
    def shortcut_bias(self) -> bool:
        """Whether a projection shortcut's conv has a bias (Keras V1: every conv; V2: where no BN follows)."""
        return self.conv_bias is ConvBias.ALL or (self.block.is_preact and self.conv_bias is ConvBias.UNLESS_NORMALIZED)

    # ---- validation at the boundary ----

    def validate(self) -> ResNetSpec:
        """Return self if every field is consistent, else raise OptionError naming the bad value (as a flag on the
        command line, as a field name from Python)."""
        # the specific rules first ("every stage needs at least 1 block"), then every field within its flag's bounds
        for check in (
            _check_stages,
            _check_stem,
            _check_groups,
            _check_placement,
            _check_shortcut,
            _check_sizes,
            _check_bounds,
        ):
            check(self)
        return self

    def replace(self, **changes) -> ResNetSpec:
        """A copy with some fields changed, validated."""
        return dataclasses.replace(self, **changes).validate()

    def as_dict(self) -> dict:
        """Plain JSON-ready fields (enums as their values)."""
        result = {}
        for spec_field in dataclasses.fields(self):
            value = getattr(self, spec_field.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            result[spec_field.name] = value
        return result


def make_divisible(value: float, divisor: int) -> int:
    """timm.layers.make_divisible(value, divisor, round_limit=0): the nearest multiple, at least ``divisor``."""
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


def eca_kernel_size(channels: int, gamma: int = 2, beta: int = 1) -> int:
    """ECA-Net's adaptive kernel size: the odd number nearest |log2(C) + b| / γ, at least 3 (timm's EcaModule)."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


def _csv(values) -> str:
    return ",".join(str(v) for v in values)


# the enum-typed fields, which __post_init__ coerces from their values (and old booleans)
_ENUM_FIELDS = {
    name: kind
    for name, kind in typing.get_type_hints(ResNetSpec).items()
    if isinstance(kind, type) and issubclass(kind, enum.Enum)
}


# ---- the consistency rules of a spec, one group each (``ResNetSpec.validate``) ----


def _check_stages(spec: ResNetSpec) -> None:
    if not spec.layers:
        raise OptionError("{layers} is empty; give blocks per stage, e.g. 3,4,6,3")
    if any(n < 1 for n in spec.layers):
        raise OptionError(f"{{layers}} {_csv(spec.layers)}: every stage needs at least 1 block")
    if len(spec.widths) != len(spec.layers):
        raise OptionError(
            f"{{widths}} {_csv(spec.widths)} has {len(spec.widths)} stages but {{layers}} "
            f"{_csv(spec.layers)} has {len(spec.layers)}; give one width per stage"
        )
    if any(w < 1 for w in spec.widths):
        raise OptionError(f"{{widths}} {_csv(spec.widths)}: widths must be positive integers")


def _check_stem(spec: ResNetSpec) -> None:
    if spec.stem_width < 1:
        raise OptionError(f"{{stem_width}} {spec.stem_width}: must be a positive integer")
    if spec.stem_widths:
        if spec.stem is not StemKind.DEEP:
            raise OptionError(
                f"{{stem_widths}} {_csv(spec.stem_widths)} sets the deep stem's convs; "
                f"the {spec.stem.value} stem has one conv (use {{stem}} deep)"
            )
        if len(spec.stem_widths) != 3:
            raise OptionError(
                f"{{stem_widths}} {_csv(spec.stem_widths)} has {len(spec.stem_widths)} values; the "
                "deep stem has three convs, e.g. 24,32,64"
            )
        if spec.stem_widths[-1] != spec.stem_width:
            raise OptionError(
                f"{{stem_widths}} {_csv(spec.stem_widths)} ends in {spec.stem_widths[-1]} but "
                f"{{stem_width}} is {spec.stem_width}: the last conv is the stem's output, so give "
                f"{{stem_width}} {spec.stem_widths[-1]} too"
            )
    elif spec.stem is StemKind.DEEP and spec.stem_width % 2:
        raise OptionError(
            f"{{stem_width}} {spec.stem_width}: the deep stem's inner convs use half the stem width, so it must be even"
        )


def _check_groups(spec: ResNetSpec) -> None:
    if spec.groups < 1:
        raise OptionError(f"{{groups}} {spec.groups}: must be a positive integer")
    if spec.width_per_group < 1:
        raise OptionError(f"{{width_per_group}} {spec.width_per_group}: must be a positive integer")
    if not spec.block.is_bottleneck and (spec.groups != 1 or spec.width_per_group != 64):
        raise OptionError(
            f"{{groups}} {spec.groups} / {{width_per_group}} {spec.width_per_group} need bottleneck blocks; "
            f"{spec.block.value} blocks only support groups=1 and width-per-group=64 "
            "(as in torchvision)"
        )
    if spec.block.is_bottleneck:
        for index in range(spec.num_stages):
            if int(spec.widths[index] * (spec.width_per_group / 64.0)) < 1:
                raise OptionError(
                    f"{{width_per_group}} {spec.width_per_group} makes stage {index + 1}'s grouped conv "
                    "0 channels wide per group"
                )


def _check_placement(spec: ResNetSpec) -> None:
    if spec.stride_at is StrideAt.FIRST_1X1 and not spec.block.is_bottleneck:
        raise OptionError(
            f"{{stride_at}} v1 puts the stride on a bottleneck's first 1x1 conv; {spec.block.value} "
            "blocks have none (accepted: v1.5, last-block)"
        )
    if spec.stride_at is StrideAt.LAST_BLOCK and any(spec.dilate):
        raise OptionError("{dilate} cannot be combined with {stride_at} last-block")
    if len(spec.dilate) not in (0, spec.num_stages - 1):
        raise OptionError(
            f"{{dilate}} has {len(spec.dilate)} values; give one per stage after the first "
            f"({spec.num_stages - 1} for {spec.num_stages} stages), e.g. "
            + ",".join(["0"] * max(spec.num_stages - 1, 1))
        )


def _check_shortcut(spec: ResNetSpec) -> None:
    if spec.shortcut is Shortcut.ZERO_PAD:
        for index in range(spec.num_stages):
            before = spec.stem_channels() if index == 0 else spec.out_channels(index - 1)
            if spec.out_channels(index) < before:
                raise OptionError(
                    f"{{shortcut}} zero-pad cannot shrink channels ({before} -> {spec.out_channels(index)} "
                    f"in stage {index + 1}); use projection or avgpool"
                )


def _check_bounds(spec: ResNetSpec) -> None:
    """Every field within its flag's bounds, checked by the parser its flag uses (``spec.overrides``): a spec
    read from a checkpoint (20 M classes) or given to the API meets the bounds the command line sets, in the
    same words, and every spec that validates is rebuilt by flags the command line accepts (issue 18)."""
    if _within_bounds(spec):
        return  # the common case (registry, flags already parsed) costs no parsing
    for spec_field in dataclasses.fields(spec):
        flag = Flag.of(spec_field)
        value = getattr(spec, spec_field.name)
        if flag is None or value is None or value == () or isinstance(value, (bool, enum.Enum)):
            continue
        option = "{" + spec_field.name + "}"  # named as the caller wrote it (OptionError)
        try:
            if isinstance(value, tuple) and isinstance(value[0], bool):
                parse_bool_list(_csv(int(v) for v in value), option, flag.max_items)
            elif isinstance(value, tuple):
                parse_int_list(_csv(value), option, flag.low, flag.high, flag.max_items)
            elif isinstance(value, float):
                parse_float(repr(value), option, flag.low, flag.high)
            else:
                parse_int(str(value), option, flag.low, flag.high)
        except UsageError as error:
            raise OptionError(str(error)) from None


def _within_bounds(spec: ResNetSpec) -> bool:
    """Whether every bounded number of ``spec`` is inside its flag's bounds (a quick test; the parsers say why
    when one is not)."""
    for spec_field in dataclasses.fields(spec):
        flag = Flag.of(spec_field)
        value = getattr(spec, spec_field.name)
        if flag is None or value is None or isinstance(value, (bool, enum.Enum)):
            continue
        items = value if isinstance(value, tuple) else (value,)
        if len(items) > (flag.max_items if isinstance(value, tuple) else 1):
            return False
        if any(not isinstance(v, bool) and not (flag.low <= v <= flag.high) for v in items):
            return False
    return True


def _check_sizes(spec: ResNetSpec) -> None:
    if spec.expansion is not None and spec.expansion < 1:
        raise OptionError(f"{{expansion}} {spec.expansion}: must be a positive integer")
    if spec.se_reduction < 1:
        raise OptionError(f"{{se_reduction}} {spec.se_reduction}: must be a positive integer")
    for name in ("drop_rate", "drop_path_rate"):
        rate = getattr(spec, name)
        if not 0.0 <= rate < 1.0:
            raise OptionError(f"{{{name}}} {rate:g}: must be at least 0 and below 1 (a rate of 1 drops everything)")
    if not spec.bn_eps > 0:
        raise OptionError(f"{{bn_eps}} {spec.bn_eps:g}: must be above 0 (BatchNorm divides by sqrt(var + eps))")
    if spec.num_classes < 1:
        raise OptionError(f"{{num_classes}} {spec.num_classes}: must be a positive integer")
    if spec.in_channels < 1:
        raise OptionError(f"{{in_channels}} {spec.in_channels}: must be a positive integer")
