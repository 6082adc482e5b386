"""A spec's parameters, MACs and fvcore FLOPs in closed form: arithmetic on the spec, no torch, no model.

``list`` prints these for every registered variant, so it answers without importing torch or analysing a
single model. The walk below mirrors ``resnet_cli.nn.model`` layer by layer (the same stem, blocks, shortcuts and
head, the same bias rules); tests/test_families.py checks its three totals equal to the analysis core's
(``resnet_cli.report.rows.totals``) for every registered variant, and the analysis is itself checked against fvcore
and torch.utils.flop_counter.

The conventions are the analysis's: ``macs`` are the multiply-accumulates of conv and linear layers;
``flops`` is fvcore's count in inference — 1 per conv/linear multiply-accumulate (biases ignored), 2 per
element through a batch norm, 1 per input element of the global average pool, nothing for activations,
pooling, attention gates or residual additions.
"""

from __future__ import annotations

from dataclasses import dataclass

from resnet_cli.spec.fields import (
    AVGPOOL_PROJECTION,
    PROJECTION,
    Attention,
    AttentionAt,
    ConvBias,
    ResNetSpec,
    StemKind,
    StemPool,
    StrideAt,
    eca_kernel_size,
)


@dataclass(frozen=True)
class Counts:
    params: int
    macs: int  # conv + linear multiply-accumulates
    flops: int  # fvcore's count (see the module docstring)
    output_shape: tuple[int, int]  # (N, classes)


def conv_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """A conv's (or max-pool's) output length, as torch computes it."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def ceil_pool_size(size: int, kernel: int, stride: int) -> int:
    """A ceil-mode pool's output length without padding: torch drops a last window that starts past the input."""
    out = (size - kernel + stride - 1) // stride + 1
    return out - 1 if (out - 1) * stride >= size else out


class _Tally:
    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.params = self.macs = self.flops = 0

    def conv(self, size, cin, cout, kernel, stride=1, groups=1, dilation=1, bias=False):
        """A 2-D conv with 'same' padding (dilation·(k−1)/2, as model._conv): its output size."""
        height, width = (conv_size(s, kernel, stride, dilation * (kernel - 1) // 2, dilation) for s in size)
        weights = cout * (cin // groups) * kernel * kernel
        self.params += weights + (cout if bias else 0)
        self._mac(self.batch * height * width * weights)
        return height, width

    def batch_norm(self, channels, size):
        self.params += 2 * channels
        self.flops += 2 * self.batch * channels * size[0] * size[1]

    def linear(self, cin, cout, bias=True):
        self.params += cin * cout + (cout if bias else 0)
        self._mac(self.batch * cin * cout)

    def attention(self, spec: ResNetSpec, channels: int):
        if spec.se is Attention.SE:  # two biased 1x1 convs on the 1x1 squeezed map
            reduced = spec.se_channels(channels)
            self.conv((1, 1), channels, reduced, 1, bias=True)
            self.conv((1, 1), reduced, channels, 1, bias=True)
        elif spec.se is Attention.ECA:  # one k-tap 1-D conv along the C channels
            kernel = eca_kernel_size(channels)
            self.params += kernel
            self._mac(self.batch * channels * kernel)

    def _mac(self, macs):
        self.macs += macs
        self.flops += macs  # fvcore: one "flop" per multiply-accumulate


def counts(spec: ResNetSpec, input_shape: tuple[int, int, int, int]) -> Counts:
    """Parameters, MACs and fvcore FLOPs of ``spec``'s model at ``input_shape`` (NxCxHxW)."""
    spec.validate()
    tally = _Tally(input_shape[0])
    size = (input_shape[2], input_shape[3])
    size = _stem(tally, spec, size)
    cin = spec.stem_width
    dilations = spec.stage_dilations()
    for index in range(spec.num_stages):
        cout = spec.out_channels(index)
        previous = dilations[index - 1] if index else 1
        for block_index, stride in enumerate(spec.block_strides(index)):
            first_dilation = previous if block_index == 0 else dilations[index]
            size = _block(
                tally, spec, index, cin, cout, stride, first_dilation, dilations[index], size, block_index == 0
            )
            cin = cout
    if spec.block.is_preact:
        tally.batch_norm(cin, size)  # post_bn
    tally.flops += tally.batch * cin * size[0] * size[1]  # the global average pool
    tally.linear(cin, spec.num_classes)
    return Counts(tally.params, tally.macs, tally.flops, (input_shape[0], spec.num_classes))


def _stem(tally: _Tally, spec: ResNetSpec, size):
    preact = spec.block.is_preact
    stem_bias = spec.conv_bias is ConvBias.ALL or (preact and spec.conv_bias is ConvBias.UNLESS_NORMALIZED)
    if spec.stem is StemKind.DEEP:
        first, second, out = spec.deep_stem_widths()
        inner_bias = spec.conv_bias is ConvBias.ALL
        size = tally.conv(size, spec.in_channels, first, 3, 2, bias=inner_bias)
        tally.batch_norm(first, size)
        size = tally.conv(size, first, second, 3, bias=inner_bias)
        tally.batch_norm(second, size)
        size = tally.conv(size, second, out, 3, bias=stem_bias)
    elif spec.stem is StemKind.CIFAR:
        size = tally.conv(size, spec.in_channels, spec.stem_width, 3, bias=stem_bias)
    else:
        size = tally.conv(size, spec.in_channels, spec.stem_width, 7, 2, bias=stem_bias)
    if not preact:
        tally.batch_norm(spec.stem_width, size)
    if spec.stem_pool in (StemPool.MAX, StemPool.ZERO_MAX):
        size = tuple(conv_size(s, 3, 2, 1) for s in size)
    elif spec.stem_pool is StemPool.CONV:
        size = tally.conv(size, spec.stem_width, spec.stem_width, 3, 2, bias=spec.conv_bias is ConvBias.ALL)
        tally.batch_norm(spec.stem_width, size)
    return size


def _block(tally: _Tally, spec: ResNetSpec, index, cin, cout, stride, first_dilation, dilation, size, first):
    preact = spec.block.is_preact
    bias = spec.conv_bias is ConvBias.ALL
    tail_bias = spec.conv_bias is not ConvBias.NONE if preact else bias
    block_input = size
    if preact:
        tally.batch_norm(cin, size)
    if spec.se_at is AttentionAt.PRE:
        tally.attention(spec, cin)
    planes = spec.widths[index]
    if spec.block.is_bottleneck:
        width = spec.bottleneck_width(index)
        stride1, stride3 = (stride, 1) if spec.stride_at is StrideAt.FIRST_1X1 else (1, stride)
        size = tally.conv(size, cin, width, 1, stride1, bias=bias)
        tally.batch_norm(width, size)
        size = tally.conv(size, width, width, 3, stride3, spec.groups, first_dilation, bias=bias)
        tally.batch_norm(width, size)
        size = tally.conv(size, width, cout, 1, bias=tail_bias)
    else:
        size = tally.conv(size, cin, planes, 3, stride, dilation=first_dilation, bias=False if preact else bias)
        tally.batch_norm(planes, size)
        size = tally.conv(size, planes, cout, 3, dilation=dilation, bias=tail_bias)
    if not preact:
        tally.batch_norm(cout, size)
    if spec.se_at is not AttentionAt.PRE:
        tally.attention(spec, cout)
    _shortcut(tally, spec, cin, cout, stride, first, block_input)
    return size


def _shortcut(tally: _Tally, spec: ResNetSpec, cin, cout, stride, first, size) -> None:
    """The cost of the shortcut ``spec.shortcut_of`` gives the block (subsampling and zero-padding cost nothing)."""
    kind = spec.shortcut_of(cin, cout, stride, first)
    if kind not in (PROJECTION, AVGPOOL_PROJECTION):
        return
    if kind == AVGPOOL_PROJECTION:
        if stride > 1:
            size = tuple(ceil_pool_size(s, 2, stride) for s in size)
        size = tally.conv(size, cin, cout, 1, bias=spec.shortcut_bias)
    else:
        size = tally.conv(size, cin, cout, 1, stride, bias=spec.shortcut_bias)
    if not spec.block.is_preact:
        tally.batch_norm(cout, size)
