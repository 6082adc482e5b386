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

INSTALL = "pip install 'resnet-cli[keras]'"
_STATS = {"moving_mean": "running_mean", "moving_variance": "running_var"}


def missing(what: str) -> UsageError:
    """The one line said when keras (or h5py) is not installed."""
    return UsageError(f"{what} needs Keras 3 (and h5py), which are not installed: {INSTALL}")


def select_backend(required: bool = True) -> None:
    """Keras on its torch backend, before keras is imported: refused (exit 2) when the environment, or a keras
    already imported, asks for another backend. Code that never names keras (``required`` False) runs under
    whatever the environment says."""
    asked = os.environ.get("KERAS_BACKEND", "").strip()
    if asked and asked != "torch" and not required:
        return
    if asked and asked != "torch":
        raise UsageError(f"KERAS_BACKEND={asked}: resnet-cli analyses Keras models on Keras's torch backend; "
                         "unset KERAS_BACKEND or set KERAS_BACKEND=torch")
    os.environ["KERAS_BACKEND"] = "torch"
    check_backend()


def check_backend() -> None:
    """Refuse a keras already imported with another backend (the Python API, after the user imported it)."""
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    if callable(backend) and backend() != "torch":
        raise UsageError(f"keras was imported with the {backend()} backend: resnet-cli analyses Keras models on "
                         "Keras's torch backend; set KERAS_BACKEND=torch before keras is imported")


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
    layout_words = ("channels-last: fed the --input N×C×H×W as N×H×W×C, and its shapes are shown as Keras gives "
                    "them, N×H×W×C" if adapter.channels_last else "channels-first: shapes are N×C×H×W")
    return f"{name}: a Keras {adapter.keras_class} run on Keras's torch backend; {layout_words}"


def is_keras(obj) -> bool:
    """Whether ``obj`` is a Keras layer or model (found by its classes' modules, so keras is never imported)."""
    return any(cls.__module__.split(".")[0] in ("keras", "tf_keras") for cls in type(obj).__mro__)


def layout(model) -> str:
    """"channels_last" or "channels_first": the data format of the model's first layer that has one."""
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
        raise UsageError("this Keras model is no torch module: resnet-cli analyses Keras models on Keras's torch "
                         "backend; set KERAS_BACKEND=torch before keras is imported")
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
            with device_scope(x.device, running=True):  # Keras runs where its variables are (meta: shapes only)
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
            self.num_features = int(layer.moving_mean.shape[0]) if getattr(layer, "moving_mean", None) is not None \
                else 0
            self.eps = float(layer.epsilon)
            self.momentum = 1.0 - float(layer.momentum)  # Keras keeps the old value's weight
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
