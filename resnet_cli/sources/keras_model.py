"""Keras 3 models, seen as any model: the torch backend, a module tree in Keras's names, NHWC feeding.

With ``KERAS_BACKEND=torch`` a Keras 3 model is a ``torch.nn.Module`` whose layers call ATen operators, so the
analysis core records it as it records any model. Two things keep it from reading like one: its layers are not
torch submodules of each other (their variables sit in one ``_torch_params`` dict of the root), and a
channels-last model takes N×H×W×C. ``KerasAdapter`` is the module the analysis runs instead: one child per Keras
layer, under the layer's own name, holding that layer's own variables (trainable ones as parameters, a
BatchNormalization's moving statistics as running statistics, as Keras counts them: non-trainable), nested as
the layers are; its forward takes N×C×H×W (what ``--input`` says) and hands the layer its own layout. The Keras
layers themselves run, unchanged: the analysis hears their calls under their adapter's names
(``module_aliases``).

Nothing here imports keras or torch at import time; ``select_backend`` must run before any code that may import
keras (the user's module, or our reading of a ``.keras`` file).
"""

from __future__ import annotations

import contextlib
import os
import sys

from resnet_cli.base.errors import UsageError
from resnet_cli.sources.keras_files import missing

_STATS = {"moving_mean": "running_mean", "moving_variance": "running_var"}


def select_backend(required: bool = True) -> None:
    """Keras on its torch backend, before keras is imported: refused (exit 2) when the environment, or a keras
    already imported, asks for another backend. Code that never names keras (``required`` False) runs under
    whatever the environment says."""
    asked = os.environ.get("KERAS_BACKEND", "").strip()
    if asked and asked != "torch" and not required:
        return
    if asked and asked != "torch":
        raise UsageError(
            f"KERAS_BACKEND={asked}: resnet-cli analyses Keras models on Keras's torch backend; "
            "unset KERAS_BACKEND or set KERAS_BACKEND=torch"
        )
    os.environ["KERAS_BACKEND"] = "torch"
    check_backend()


def check_backend() -> None:
    """Refuse a keras already imported with another backend (the Python API, after the user imported it)."""
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    if callable(backend) and backend() != "torch":
        raise UsageError(
            f"keras was imported with the {backend()} backend: resnet-cli analyses Keras models on "
            "Keras's torch backend; set KERAS_BACKEND=torch before keras is imported"
        )


def mentions_keras(path: str | None) -> bool:
    """Whether the Python file at ``path`` names keras (read as text, never run)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return "keras" in file.read(1_000_000)
    except (OSError, TypeError):
        return False


def is_adapter(model) -> bool:
    return type(model).__name__ == "KerasAdapter" and hasattr(model, "keras_model")


def note(name: str, adapter) -> str:
    """What a person reads about a Keras model's analysis: the backend and the layout."""
    layout_words = (
        "channels-last: fed the --input N×C×H×W as N×H×W×C, and its shapes are shown as Keras gives them, N×H×W×C"
        if adapter.channels_last
        else "channels-first: shapes are N×C×H×W"
    )
    return f"{name}: a Keras {adapter.keras_class} run on Keras's torch backend; {layout_words}"


def is_keras(obj) -> bool:
    """Whether ``obj`` is a Keras layer or model (found by its classes' modules, so keras is never imported)."""
    return any(cls.__module__.split(".")[0] in ("keras", "tf_keras") for cls in type(obj).__mro__)


def layout(model) -> str:
    """ "channels_last" or "channels_first": the data format of the model's first layer that has one."""
    for layer in _walk(model):
        data_format = getattr(layer, "data_format", None)
        if data_format in ("channels_last", "channels_first"):
            return data_format
    return "channels_last"  # Keras's default (keras.config.image_data_format())


def _walk(layer):
    for child in _children(layer):
        yield child
        yield from _walk(child)


def _children(layer) -> list:
    found = getattr(layer, "_layers", None)
    if found is None:
        found = getattr(layer, "layers", [])
    return [child for child in found if type(child).__name__ != "InputLayer"]


def _module_name(name: str, taken) -> str:
    name = str(name).replace(".", "_") or "layer"
    while name in taken:
        name += "_"
    return name


@contextlib.contextmanager
def device_scope(device, running: bool = False):
    """Keras's own device scope (where its variables are created and its layers run), when keras is imported:
    ``torch.device(...)`` alone does not reach Keras, which places its tensors itself.

    Keras keeps the device as the text it was given and moves every tensor whose ``device != text``; a
    ``torch.device`` never equals a text, and a meta tensor is "moved" by ``empty_like``, which would cut every
    parameter and activation off from where it came from. So the scope holds the ``torch.device`` itself
    (Keras's ``global_state``, pinned by tests/test_keras.py) while the model ``running``; building takes the text."""
    keras = sys.modules.get("keras")
    if keras is None or device is None or not hasattr(keras, "device"):
        yield
        return
    import torch
    from keras.src.backend.common import global_state

    with keras.device(str(device)):
        if running:
            global_state.set_global_attribute("torch_device", torch.device(device))
        yield


def adapt(model, input_shape: tuple[int, ...]):
    """The ``KerasAdapter`` of a Keras model, built (a subclassed model builds on its first call) for an input of
    ``input_shape`` N×C×H×W."""
    import torch

    check_backend()
    if not isinstance(model, torch.nn.Module):
        raise UsageError(
            "this Keras model is no torch module: resnet-cli analyses Keras models on Keras's torch "
            "backend; set KERAS_BACKEND=torch before keras is imported"
        )
    channels_last = layout(model) == "channels_last"
    if not model.built:
        shape = _keras_shape(input_shape, channels_last)
        device = _device_of(model)
        with torch.no_grad(), device_scope(device, running=True):
            model(torch.zeros(shape, device=device))
    return _adapter_class()(model, channels_last)


def _device_of(model) -> str:
    from keras import backend

    return str(backend.get_device() if hasattr(backend, "get_device") else "cpu")


def _keras_shape(shape, channels_last: bool) -> tuple[int, ...]:
    n, c, *spatial = shape
    return (n, *spatial, c) if channels_last else tuple(shape)


_CLASSES: dict = {}


def _adapter_class():
    if "adapter" in _CLASSES:
        return _CLASSES["adapter"]
    import torch
    from torch import nn

    class KerasAdapter(nn.Module):
        """A Keras model as a module tree in its own names; see the module docstring."""

        # Keras transposes its conv kernels to torch's layout on every call: the analysis reads the result as
        # the parameter it is (analysis/recorder.py), so the conv is seen with its weight, as in torch
        views_are_parameters = True

        def __init__(self, keras_model, channels_last: bool) -> None:
            super().__init__()
            object.__setattr__(self, "keras_model", keras_model)  # not a child: its parameters are the layers'
            self.channels_last = channels_last
            self.keras_class = type(keras_model).__name__
            self._aliases: list = []
            _attach(self, keras_model, "", self._aliases)

        def module_aliases(self):
            """(name, module) of every Keras layer that runs under the name of its adapter's module."""
            return list(self._aliases)

        def forward(self, x):
            if self.channels_last and x.dim() >= 3:
                x = x.movedim(1, -1)  # N×C×H×W, as --input says, to Keras's N×H×W×C: a view
            # Keras runs where its variables are (on meta: shapes only), its Conv2D, Dense and BatchNormalization
            # as torch's fused operators
            with device_scope(x.device, running=True), torch_calls(self.keras_model):
                return self.keras_model(x, training=self.training)

    class KerasLayer(nn.Module):
        def __init__(self, layer) -> None:
            super().__init__()
            self.keras_class = type(layer).__name__

    class KerasBatchNormalization(nn.modules.batchnorm._BatchNorm):
        """A BatchNormalization: its moving statistics are running statistics, as torch's BatchNorm's are."""

        def __init__(self, layer) -> None:
            nn.Module.__init__(self)
            self.keras_class = type(layer).__name__
            self.num_features = (
                int(layer.moving_mean.shape[0]) if getattr(layer, "moving_mean", None) is not None else 0
            )
            self.eps = float(layer.epsilon)
            self.momentum = torch_momentum(layer.momentum)
            self.affine = bool(layer.scale or layer.center)
            self.track_running_stats = True
            self.num_batches_tracked = None

        @property
        def running_mean(self):
            return self._buffers["moving_mean"]

        @property
        def running_var(self):
            return self._buffers["moving_variance"]

    def _attach(parent, layer, prefix: str, aliases: list) -> None:
        for child in _children(layer):
            is_bn = type(child).__name__ == "BatchNormalization" and getattr(child, "moving_mean", None) is not None
            kind = _typed(KerasBatchNormalization if is_bn else KerasLayer, type(child).__name__)
            module = kind(child)
            for variable in child._trainable_variables + child._non_trainable_variables:
                name = variable.name.rpartition("/")[2]
                value = variable.value
                if is_bn and name in _STATS:
                    module.register_buffer(name, value)
                elif isinstance(value, nn.Parameter) and name not in module._parameters:
                    module.register_parameter(name, value)
                elif name not in module._buffers:
                    module.register_buffer(name, value)
            name = _module_name(child.name, set(parent._modules) | set(dir(parent)))
            parent.add_module(name, module)
            qualified = f"{prefix}.{name}" if prefix else name
            aliases.append((qualified, child))
            _attach(module, child, qualified, aliases)

    def _typed(base, keras_name: str):
        key = (base.__name__, keras_name)
        if key not in _CLASSES:  # the module's type name is the Keras class's, as Keras's summary prints it
            _CLASSES[key] = type(keras_name, (base,), {"__module__": __name__})
        return _CLASSES[key]

    del torch
    _CLASSES["adapter"] = KerasAdapter
    return KerasAdapter


# ---- Keras's layers as torch's operators ----
#
# Keras's torch backend computes a Conv2D as a bias-free conv then an addition, a Dense as a matmul then an
# addition, a BatchNormalization as a subtraction, a product and an addition, a GlobalAveragePooling2D as a mean,
# and pads and max-pools N×H×W×C. The same arithmetic as torch's conv2d (with its bias), linear, batch_norm,
# adaptive_avg_pool2d, pad and max_pool2d of N×C×H×W — so, while the adapter runs, these layers (Keras's own classes,
# not subclasses, which may compute otherwise) call torch's operators: they are then counted, compared and drawn
# as the same layers written in PyTorch are (fvcore counts a batch_norm; a conv's bias is the conv's). Every other
# layer runs as Keras runs it. Nothing stays on the layers: the calls are restored when the forward ends.

_KERAS_PACKAGES = ("keras.src.layers", "keras.layers")


def _replacement(layer):
    kind = type(layer)
    if not kind.__module__.startswith(_KERAS_PACKAGES) or "call" in vars(layer):
        return None
    if getattr(layer, "quantization_mode", None) is not None or getattr(layer, "lora_enabled", False):
        return None
    return {
        "Conv2D": _conv_call,
        "Dense": _dense_call,
        "BatchNormalization": _batch_norm_call,
        "GlobalAveragePooling2D": _global_pool_call,
        "ZeroPadding2D": _zero_pad_call,
        "MaxPooling2D": _max_pool_call,
    }.get(kind.__name__, lambda _: None)(layer)


@contextlib.contextmanager
def torch_calls(model):
    """While the forward runs, Keras's Conv2D, Dense, BatchNormalization, GlobalAveragePooling2D, ZeroPadding2D
    and MaxPooling2D layers call torch's operators."""
    patched = []
    try:
        for layer in [model, *_walk(model)]:
            call = _replacement(layer)
            if call is not None:
                layer.__dict__["call"] = call
                patched.append(layer)
        yield
    finally:
        for layer in patched:
            layer.__dict__.pop("call", None)


def _channels_first(layer) -> bool:
    return getattr(layer, "data_format", "channels_last") == "channels_first"


def _conv_call(layer):
    import torch.nn.functional as F

    if len(layer.kernel.shape) != 4:
        return None
    first = _channels_first(layer)

    def call(inputs, *args, **kwargs):
        from keras.src.backend.torch.nn import _apply_same_padding

        x = inputs if first else inputs.movedim(-1, 1)
        kernel = layer.kernel.value.permute(3, 2, 0, 1)  # H×W×Cin×Cout -> Cout×Cin×H×W: Keras's own transpose
        padding = 0
        if layer.padding == "same":  # Keras's "same": torch's symmetric padding, or an explicit pad where uneven
            x, padding = _apply_same_padding(
                x, kernel.shape[2:], layer.strides, "channels_first", "conv", layer.dilation_rate
            )
        bias = layer.bias.value if layer.use_bias else None
        out = F.conv2d(x, kernel, bias, layer.strides, padding, layer.dilation_rate, layer.groups)
        return layer.activation(out if first else out.movedim(1, -1))

    return call


def _dense_call(layer):
    import torch.nn.functional as F

    def call(inputs, *args, **kwargs):
        bias = layer.bias.value if layer.use_bias else None
        return layer.activation(F.linear(inputs, layer.kernel.value.t(), bias))

    return call


def _batch_norm_call(layer):
    import torch.nn.functional as F

    axis = layer.axis

    def call(inputs, training=None, mask=None, *args, **kwargs):
        channel = axis % inputs.dim()
        x = inputs.movedim(channel, 1)
        out = F.batch_norm(
            x,
            layer.moving_mean.value,
            layer.moving_variance.value,
            layer.gamma.value if layer.scale else None,
            layer.beta.value if layer.center else None,
            training=bool(training) and layer.trainable,
            momentum=torch_momentum(layer.momentum),
            eps=float(layer.epsilon),
        )
        return out.movedim(1, channel)

    return call


def _global_pool_call(layer):
    import torch.nn.functional as F

    first = _channels_first(layer)

    def call(inputs, *args, **kwargs):
        if inputs.dim() != 4:
            return type(layer).call(layer, inputs, *args, **kwargs)
        out = F.adaptive_avg_pool2d(inputs if first else inputs.movedim(-1, 1), 1)
        if layer.keepdims:
            return out if first else out.movedim(1, -1)
        return out.flatten(1)

    return call


def _zero_pad_call(layer):
    import torch.nn.functional as F

    first = _channels_first(layer)
    (top, bottom), (left, right) = layer.padding

    def call(inputs, *args, **kwargs):
        out = F.pad(inputs if first else inputs.movedim(-1, 1), (left, right, top, bottom))
        return out if first else out.movedim(1, -1)

    return call


def _max_pool_call(layer):
    import torch.nn.functional as F

    if len(layer.pool_size) != 2:
        return None
    first = _channels_first(layer)

    def call(inputs, *args, **kwargs):
        from keras.src.backend.torch.nn import _apply_same_padding

        x = inputs if first else inputs.movedim(-1, 1)
        padding = 0
        if layer.padding == "same":  # as Keras: torch's padding where even, else an explicit replicate pad
            x, padding = _apply_same_padding(x, layer.pool_size, layer.strides, "channels_first", "pooling")
        out = F.max_pool2d(x, layer.pool_size, layer.strides, padding)
        return out if first else out.movedim(1, -1)

    return call


def torch_momentum(keras_momentum: float) -> float:
    """Keras's BatchNormalization momentum (the old statistics' weight, 0.99) in torch's convention (the new
    batch's weight, 0.01), rounded so that 0.99 reads 0.01 and not 0.010000000000000009."""
    return round(1.0 - float(keras_momentum), 12)


# ---- a .keras archive ----


def archive_loader(path: str):
    """A factory for MODEL FILE.keras: Keras's own loader in safe mode (a Lambda layer, or any deserialisation that
    would run code, is refused, exit 2, and nothing of the file runs), on the CPU."""

    def load():
        select_backend()
        try:
            import keras
        except ModuleNotFoundError:
            raise missing(f"MODEL '{path}' (a Keras .keras model)") from None
        try:
            with device_scope("cpu"):
                return keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as error:  # noqa: BLE001 - Keras raises ValueError, TypeError, zip and h5py errors
            text = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise UsageError(f"MODEL '{path}': Keras's loader (safe mode) refused it: {text}") from None

    load.__name__ = "load_model"
    return load
