"""Normalisation rules: code that computes the same thing becomes the same layers, before anything reads them.

``resnet_cli.structure.layers.layers`` applies every rule of ``RULES``, in order, to the layers read from one
analysis; ``compare``, ``identify``, the stage table and ``draw``'s structure all read the result, so a
model written another way is never a difference. Each rule is a small function of the layer sequence:

* ``fold_zero_padding`` — an explicit symmetric zero-padding (``nn.ZeroPad2d(p)``, ``F.pad``) read only by a
  conv or a pool is that conv's (pool's) own ``padding=p`` (Keras's ``ZeroPadding2D`` + ``padding="valid"``);
* ``drop_no_op_pools`` — a 1×1 pool of stride 1 (``MaxPool2d(1)``, TF-slim's ``subsample`` at stride 1)
  computes nothing: its readers read its input;
* ``conv_on_one_pixel_as_linear`` — a 1×1 conv (one group) on a 1×1 map is a linear layer (TF-slim's
  ``logits`` conv);

and, where the layers are read (``resnet_cli.structure.layers``): every global average pool form
(``x.mean((2, 3))``, ``AdaptiveAvgPool2d(1)``, an average pool whose window is the whole map) is one
``gap``; ``F.relu``, ``nn.ReLU`` and their in-place forms are one ``relu``; an ``nn.Identity`` runs no
operator at all. Settings that change no count, shape or parameter (a BatchNorm's eps and momentum) are
kept apart from what a layer does (``Layer.settings``): they never stop two layers from matching.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

Layers = tuple  # of resnet_cli.structure.layers.Layer (which imports this module: no import back)


def _readers(layers) -> dict[int, list[int]]:
    readers: dict[int, list[int]] = {}
    for position, layer in enumerate(layers):
        for value in layer.inputs:
            readers.setdefault(value, []).append(position)
    return readers


def _pairs(value, rank: int = 2) -> tuple[int, ...]:
    if value is None:
        return (0,) * rank
    if isinstance(value, int):
        return (value,) * rank
    value = tuple(value)
    return value * rank if len(value) == 1 else value


def _symmetric_spatial_pad(layer) -> tuple[int, int] | None:
    """(height, width) of a zero-padding that pads both sides of the last two dims equally, else None."""
    pad = layer.get("pad")
    value = layer.get("value")
    if pad is None or len(pad) != 4 or (value not in (None, 0, 0.0)):
        return None
    left, right, top, bottom = pad
    if left != right or top != bottom or min(pad) < 0:
        return None
    return top, left


def _with(layer, **changes):
    return dataclasses.replace(layer, **changes)


def _rename(layers, old: int, new: int):
    """Every reader of value ``old`` reads ``new`` instead."""
    return [
        (_with(l, inputs=tuple(new if v == old else v for v in l.inputs)) if old in l.inputs else l) for l in layers
    ]


_NON_NEGATIVE = frozenset({"relu", "relu6", "sigmoid"})  # activations whose outputs are never below 0


def fold_zero_padding(layers: Layers) -> Layers:
    """ZeroPad2d(p) then a conv or pool with padding q ≡ that conv (pool) with padding p + q.

    Only a symmetric padding read by exactly one layer folds (an asymmetric one, TF's "same" at stride 2,
    cannot be said as a conv's padding and stays a layer). For an average pool the zeros count in the mean
    (``count_include_pad``); for a max-pool a zero equals PyTorch's −∞ padding only where the input is never
    negative (after a ReLU): Keras V2's stem pads an un-ReLU'd conv output, and stays a zero-padding
    (``--stem-pool zero-max``).
    """
    found = list(layers)
    readers = _readers(found)
    producer = {value: l for l in found for value in l.outputs}
    drop = set()
    for position, layer in enumerate(found):
        if layer.kind != "pad" or not layer.outputs or not layer.inputs:
            continue
        pad = _symmetric_spatial_pad(layer)
        users = readers.get(layer.outputs[0], [])
        if pad is None or len(users) != 1:
            continue
        user = found[users[0]]
        if user.kind not in ("conv", "maxpool", "avgpool") or user.get("transposed"):
            continue
        if user.kind == "maxpool" and getattr(producer.get(layer.inputs[0]), "kind", None) not in _NON_NEGATIVE:
            continue  # a zero can be the maximum of a window of negative values: not PyTorch's −∞ padding
        padding = tuple(a + b for a, b in zip(_pairs(user.get("padding")), pad))
        config = tuple(
            (k, padding if k == "padding" else True if k == "count_include_pad" else v) for k, v in user.config
        )
        found[users[0]] = _with(
            user,
            config=config,
            in_shapes=(layer.in_shapes[0],) + user.in_shapes[1:],
            inputs=tuple(layer.inputs[0] if v == layer.outputs[0] else v for v in user.inputs),
        )
        drop.add(position)
    return tuple(l for i, l in enumerate(found) if i not in drop)


def drop_no_op_pools(layers: Layers) -> Layers:
    """MaxPool2d(1), AvgPool2d(1) (stride 1, no padding): the identity, so no layer at all."""
    found = list(layers)
    kept = []
    for position, layer in enumerate(found):
        if (
            layer.kind in ("maxpool", "avgpool")
            and layer.inputs
            and layer.outputs
            and set(_pairs(layer.get("kernel_size"))) == {1}
            and set(_pairs(layer.get("stride"))) <= {1}
            and not any(_pairs(layer.get("padding")))
            and layer.in_shapes
            and layer.out_shape == layer.in_shapes[0]
        ):
            found[position + 1 :] = _rename(found[position + 1 :], layer.outputs[0], layer.inputs[0])
            continue
        kept.append(position)
    return tuple(found[i] for i in kept)


def conv_on_one_pixel_as_linear(layers: Layers) -> Layers:
    """A 1×1 conv (one group, no padding) on a 1×1 map is ``nn.Linear``: the same weights, the same sums."""
    found = []
    for layer in layers:
        shape = layer.in_shapes[0] if layer.in_shapes else ()
        if (
            layer.kind == "conv"
            and len(shape) > 2
            and all(s == 1 for s in shape[2:])
            and set(layer.kernel or ()) == {1}
            and layer.get("groups", 1) == 1
            and not any(_pairs(layer.get("padding")))
            and not layer.get("transposed")
            and layer.out_shape
        ):
            layer = _with(
                layer,
                kind="linear",
                config=(("bias", bool(layer.get("bias"))),),
                in_shapes=(tuple(shape[:2]),) + layer.in_shapes[1:],
                out_shape=tuple(layer.out_shape[:2]),
            )
        found.append(layer)
    return tuple(found)


RULES: tuple[Callable, ...] = (drop_no_op_pools, fold_zero_padding, conv_on_one_pixel_as_linear)


def normalise(layers: Layers) -> Layers:
    for rule in RULES:
        layers = rule(layers)
    return layers
