"""Keras's files as MODEL or --weights: ``.weights.h5`` and legacy ``.h5`` read as tensors (h5py, nothing run).

A Keras weights file holds each layer's variables, nothing that runs. Keras 3's ``.weights.h5`` names its layers
by class and position (``layers/conv2d_7/vars/0``), in the order of ``model.layers``; a legacy ``.h5``
(``save_weights`` of Keras 2, or ``model.save`` in HDF5) keeps the layers' own names (``conv2_block1_1_conv``,
the classic ``res2a_branch2a``) with each variable's (``kernel:0``). Either is read here into this project's
names and layout (torchvision's ``layer1.0.conv1.weight``, Cout×Cin×H×W kernels, Dense kernels transposed, BN's
gamma/beta/moving mean/moving variance as weight/bias/running_mean/running_var), so that everything downstream —
identification (``spec_from_weights``), loading into a registered variant — reads it as any checkpoint. The
layouts read are keras.applications' ResNet and ResNetV2 and the classic conv_block/identity_block ResNet-50.

``keras_layout`` is the inverse, for writing weights a Keras model loads (``comparison/keras_port.py``).
"""

from __future__ import annotations

import re

from resnet_cli.base.errors import UsageError
from resnet_cli.base.values import shown

INSTALL = "pip install 'resnet-cli[keras]'"


def missing(what: str) -> UsageError:
    """The one line said when keras (or h5py) is not installed."""
    return UsageError(f"{what} needs Keras 3 (and h5py), which are not installed: {INSTALL}")


SUFFIXES = (".h5", ".hdf5", ".keras")
_BN = ("weight", "bias", "running_mean", "running_var")  # gamma, beta, moving_mean, moving_variance
_KERAS_BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def is_keras_file(path: str) -> bool:
    return str(path).lower().endswith(SUFFIXES)


def _h5py():
    try:
        import h5py
    except ModuleNotFoundError:
        raise missing("a Keras weights file") from None
    return h5py


def _refused(path: str, why: str, what: str) -> UsageError:
    return UsageError(
        f"{what} '{shown(path)}' is not a Keras ResNet weights file this tool reads ({why}); read are "
        "keras.applications' ResNet/ResNetV2 and the conv_block/identity_block ResNet-50, as "
        ".weights.h5 or legacy .h5; analyse your model's code instead (path/to/file.py:callable)"
    )


def read(path: str, what: str = "MODEL") -> dict:
    """The file's tensors under this project's names, in torch's layouts (torch tensors on the CPU)."""
    h5py = _h5py()
    import torch

    try:
        with h5py.File(path, "r") as file:
            layers = _legacy_layers(file) if _is_legacy(file) else _keras3_layers(file)
    except OSError as error:
        raise _refused(path, f"h5py cannot open it: {str(error).splitlines()[0][:120]}", what) from None
    try:
        state = _legacy_state(layers) if layers and layers[0][0] is not None else _ordered_state(layers)
    except (KeyError, IndexError, ValueError) as error:
        raise _refused(path, f"{type(error).__name__}: {error}", what) from None
    if not state:
        raise _refused(path, "it holds no convolution kernels", what)
    return {name: torch.from_numpy(value) for name, value in state.items()}


# ---- the file's layers, in order: (Keras name or None, kind, [arrays]) ----


def _is_legacy(file) -> bool:
    return "layer_names" in file.attrs or "model_weights" in file


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _legacy_layers(file) -> list:
    group = file["model_weights"] if "model_weights" in file else file
    layers = []
    for name in (_text(n) for n in group.attrs["layer_names"]):
        weights = {}
        for weight_name in (_text(n) for n in group[name].attrs.get("weight_names", ())):
            role = weight_name.rsplit("/", 1)[-1].split(":")[0]
            weights[role] = group[name][weight_name][()]
        if weights:
            layers.append((name, _kind(list(weights.values()), list(weights)), weights))
    return layers


_NUMBERED = re.compile(r"^(?P<base>.*?)(?:_(?P<index>\d+))?$")


def _keras3_layers(file) -> list:
    """Keras 3: ``layers/<class>_<n>/vars/<i>`` in model.layers order within each class (the numbers say it)."""
    if "layers" not in file:
        raise KeyError("no 'layers' group")
    found = []
    for name, group in file["layers"].items():
        if "vars" not in group or not len(group["vars"]):
            continue
        arrays = [group["vars"][str(i)][()] for i in range(len(group["vars"]))]
        match = _NUMBERED.match(name)
        found.append((match["base"], int(match["index"] or 0), arrays))
    layers = []
    for _base, _, arrays in sorted(found, key=lambda item: (item[0], item[1])):
        layers.append((None, _kind(arrays), dict(enumerate(arrays))))
    return layers


def _kind(arrays, roles=()) -> str:
    if any(r in _KERAS_BN for r in roles) or (len(arrays) == 4 and all(a.ndim == 1 for a in arrays)):
        return "bn"
    if arrays[0].ndim == 4:
        return "conv"
    if arrays[0].ndim == 2:
        return "dense"
    return "other"


# ---- into torch's names ----


def _conv(prefix: str, arrays: list, state: dict) -> None:
    state[f"{prefix}.weight"] = arrays[0].transpose(3, 2, 0, 1).copy()  # H×W×Cin×Cout -> Cout×Cin×H×W
    if len(arrays) > 1:
        state[f"{prefix}.bias"] = arrays[1]


def _bn(prefix: str, arrays: list, state: dict) -> None:
    import numpy as np

    for role, value in zip(_BN, arrays, strict=False):
        state[f"{prefix}.{role}"] = value
    state[f"{prefix}.num_batches_tracked"] = np.array(0, dtype=np.int64)


def _dense(prefix: str, arrays: list, state: dict) -> None:
    state[f"{prefix}.weight"] = arrays[0].T.copy()
    if len(arrays) > 1:
        state[f"{prefix}.bias"] = arrays[1]


def _ordered_state(layers: list) -> dict:
    """Keras 3's numbered layers: keras.applications' order within each block is conv 1, 2, (0), 3 and
    BatchNorm (preact), 1, 2, (0), 3; a block has a projection (0) where two 1×1 convs of one width follow its
    second conv."""
    convs = [d for _, kind, d in layers if kind == "conv"]
    norms = [d for _, kind, d in layers if kind == "bn"]
    dense = [d for _, kind, d in layers if kind == "dense"]
    convs = [[d[i] for i in sorted(d)] for d in convs]
    norms = [[d[i] for i in sorted(d)] for d in norms]
    preact = len(norms) < len(convs)  # V2: no BN after the stem conv nor after each block's last conv
    state: dict = {}
    _conv("conv1", convs[0], state)
    norm_iter = iter(norms)
    if not preact:
        _bn("bn1", next(norm_iter), state)
    index, stage, block = 1, 0, 0
    while index < len(convs):
        first, second = convs[index], convs[index + 1]
        after = convs[index + 2 : index + 4]
        projection = (
            len(after) == 2 and after[0][0].shape[-1] == after[1][0].shape[-1] and after[0][0].shape[:2] == (1, 1)
        )
        if projection:
            stage, block = stage + 1, 0
        prefix = f"layer{stage}.{block}"
        if preact:
            _bn(f"{prefix}.bn1", next(norm_iter), state)
            _conv(f"{prefix}.conv1", first, state)
            _bn(f"{prefix}.bn2", next(norm_iter), state)
            _conv(f"{prefix}.conv2", second, state)
            _bn(f"{prefix}.bn3", next(norm_iter), state)
        else:
            _conv(f"{prefix}.conv1", first, state)
            _bn(f"{prefix}.bn1", next(norm_iter), state)
            _conv(f"{prefix}.conv2", second, state)
            _bn(f"{prefix}.bn2", next(norm_iter), state)
        index += 2
        if projection:
            _conv(f"{prefix}.downsample" if preact else f"{prefix}.downsample.0", convs[index], state)
            if not preact:
                _bn(f"{prefix}.downsample.1", next(norm_iter), state)
            index += 1
        _conv(f"{prefix}.conv3", convs[index], state)
        if not preact:
            _bn(f"{prefix}.bn3", next(norm_iter), state)
        index += 1
        block += 1
    if preact:
        _bn("post_bn", next(norm_iter), state)
    if dense:
        _dense("fc", [dense[-1][i] for i in sorted(dense[-1])], state)
    return state


_APPLICATIONS = re.compile(r"^conv(?P<stage>\d+)_block(?P<block>\d+)_(?P<part>\d|preact)_(?P<kind>conv|bn)$")
_CLASSIC = re.compile(r"^(?P<kind>res|bn)(?P<stage>\d+)(?P<block>[a-z])_branch(?P<part>2a|2b|2c|1)$")


def torch_prefix(name: str, kind: str, preact: bool) -> str:
    """This project's module name for a Keras layer named as keras.applications or the classic ResNet-50 name it
    (KeyError for any other)."""
    found = _APPLICATIONS.match(name)
    classic = _CLASSIC.match(name)
    if found is not None or classic is not None:
        return _block_prefix(found or classic, preact, classic=found is None)
    if name in ("conv1_conv", "conv1"):
        return "conv1"
    if name in ("conv1_bn", "bn_conv1"):
        return "bn1"
    if name == "post_bn":
        return "post_bn"
    if kind == "dense":
        return "fc"
    raise KeyError(f"a layer named {name!r}")


def _legacy_state(layers: list) -> dict:
    """A legacy file's own layer names: keras.applications' (conv2_block1_1_conv, post_bn, predictions) or the
    classic conv_block/identity_block's (res2a_branch2a, bn2a_branch2a, conv1, bn_conv1, fc1000)."""
    preact = any("preact" in name for name, _, _ in layers)
    state: dict = {}
    for name, kind, weights in layers:
        {"conv": _conv, "bn": _bn, "dense": _dense}[kind](torch_prefix(name, kind, preact), _ordered(weights), state)
    return state


def _ordered(weights: dict) -> list:
    order = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")
    if all(isinstance(k, int) for k in weights):
        return [weights[k] for k in sorted(weights)]
    return [weights[k] for k in order if k in weights]


def _block_prefix(found, preact: bool, classic: bool) -> str:
    groups = found.groupdict()
    stage = int(groups["stage"]) - 1
    block = ord(groups["block"]) - ord("a") if classic else int(groups["block"]) - 1
    part = {"2a": "1", "2b": "2", "2c": "3", "1": "0"}[groups["part"]] if classic else groups["part"]
    prefix = f"layer{stage}.{block}"
    if groups["kind"] in ("conv", "res"):
        if part == "0":
            return f"{prefix}.downsample" if preact else f"{prefix}.downsample.0"
        return f"{prefix}.conv{part}"
    if part == "0":
        return f"{prefix}.downsample.1"
    if preact:  # V2: preact_bn, 1_bn, 2_bn normalise the inputs of conv 1, 2, 3
        return f"{prefix}.bn{'1' if part == 'preact' else int(part) + 1}"
    return f"{prefix}.bn{part}"


# ---- what a Keras file's architecture is ----


def keras_spec(spec):
    """A spec read from a Keras ResNet's tensors, completed with what keras.applications' layouts fix and tensors
    cannot tell: the v1 stride placement (ResNet) or the last-block stride and zero-padded stem pool (ResNetV2),
    and Keras's BatchNorm (eps 1.001e-5, momentum 0.99)."""
    from resnet_cli.spec.kinds import StemPool, StrideAt

    if spec.block.is_preact:
        return spec.replace(
            stride_at=StrideAt.LAST_BLOCK, stem_pool=StemPool.ZERO_MAX, bn_eps=1.001e-5, bn_momentum=0.01
        )
    return spec.replace(stride_at=StrideAt.FIRST_1X1, bn_eps=1.001e-5, bn_momentum=0.01)
