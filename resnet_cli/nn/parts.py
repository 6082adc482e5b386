"""The small modules a ResNet is built from besides convs and norms: the activation, the channel attention
(squeeze-excitation and ECA, as timm builds them, in the block's ``se`` slot), stochastic depth and the
option-A shortcut. Their parameter names are timm's (``fc1``, ``fc2``, ``conv``), so timm's weights load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resnet_cli.spec.fields import Activation, Attention, eca_kernel_size, make_divisible


def activation(kind: Activation, inplace: bool) -> nn.Module:
    return nn.SiLU(inplace=inplace) if kind is Activation.SILU else nn.ReLU(inplace=inplace)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018) as timm's SEModule: mean → 1×1 → ReLU → 1×1 → sigmoid → scale."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        reduced = make_divisible(channels / reduction, 8)  # timm's SEModule rounding
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.fc2(self.act(self.fc1(scale)))
        return x * self.gate(scale)


class EfficientChannelAttention(nn.Module):
    """ECA (Wang et al. 2020) as timm's EcaModule: mean → 1-D conv across channels (k weights) → sigmoid → scale."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        kernel = eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, kernel, padding=(kernel - 1) // 2, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))
        return x * self.gate(scale).view(x.shape[0], -1, 1, 1).expand_as(x)


def attention(kind, channels: int, reduction: int) -> nn.Module | None:
    kind = Attention(kind)  # True / False from callers that only know squeeze-excitation
    if kind is Attention.SE:
        return SqueezeExcite(channels, reduction)
    if kind is Attention.ECA:
        return EfficientChannelAttention(channels)
    return None


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016) as timm's DropPath: in training, drop a sample's residual branch with
    probability ``rate`` and scale the kept ones by 1/(1 − rate); the identity in eval."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask.div_(keep)


class ZeroPadShortcut(nn.Module):
    """Option A of the ResNet paper: take every stride-th pixel and pad the new channels with zeros."""

    def __init__(self, stride: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad_front = (out_channels - in_channels) // 2
        self.pad_back = out_channels - in_channels - self.pad_front

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_front, self.pad_back))
