"""Weights a Keras model loads: ``compare … --export-weights FILE.weights.h5``.

The ported state (this project's names and layouts, ``port.py``) is written into the keras.applications model the
target is — ResNet50/101/152 and ResNet50V2/101V2/152V2, the registered ``*_keras`` variants, any number of
classes — built by Keras on the CPU without weights, each layer given its tensors in Keras's layout (conv kernels
H×W×Cin×Cout, Dense kernels transposed, BatchNorm gamma, beta, moving mean, moving variance), and saved by Keras
itself (``save_weights``), so that ``keras.applications.ResNet50(weights=None).load_weights(FILE)`` reads it.
"""

from __future__ import annotations

import os

from resnet_cli.base.errors import UsageError

APPLICATIONS = {
    "resnet50_keras": "ResNet50",
    "resnet101_keras": "ResNet101",
    "resnet152_keras": "ResNet152",
    "resnet50v2_keras": "ResNet50V2",
    "resnet101v2_keras": "ResNet101V2",
    "resnet152v2_keras": "ResNet152V2",
}


def check_path(path: str) -> None:
    if path.lower().endswith((".h5", ".hdf5")) and not path.lower().endswith(".weights.h5"):
        raise UsageError(f"--export-weights {path}: Keras writes its weights as FILE.weights.h5; name the file so")


def application(spec) -> str:
    """The keras.applications constructor whose model ``spec`` builds (any number of classes)."""
    from resnet_cli.spec.registry import VARIANTS

    for name, constructor in APPLICATIONS.items():
        if spec is not None and VARIANTS[name].spec == spec.replace(num_classes=1000):
            return constructor
    raise UsageError(
        "--export-weights FILE.weights.h5 writes keras.applications' ResNets (the *_keras variants: "
        f"{', '.join(APPLICATIONS)}); the second model is none of them"
    )


def write(state: dict, spec, path: str) -> str:
    """Write ``state`` (the target's state_dict) as Keras weights of the model ``spec`` is; returns the format."""
    constructor = application(spec)
    from resnet_cli.sources import keras_model

    keras_model.select_backend()
    try:
        import keras
    except ModuleNotFoundError:
        raise keras_model.missing("--export-weights FILE.weights.h5") from None
    from resnet_cli.base.atomic import replacing
    from resnet_cli.sources.keras_files import torch_prefix

    with keras_model.device_scope("cpu"):
        model = getattr(keras.applications, constructor)(
            weights=None, classes=spec.num_classes, classifier_activation=None
        )
        preact = spec.block.is_preact
        for layer in model.layers:
            if not layer.weights:
                continue
            kind = {"Conv2D": "conv", "Dense": "dense", "BatchNormalization": "bn"}[type(layer).__name__]
            layer.set_weights(_keras_arrays(kind, torch_prefix(layer.name, kind, preact), state))
        with replacing(path, "--export-weights") as temporary:
            keras_name = temporary + ".weights.h5"  # Keras writes only to a name so ending
            try:
                model.save_weights(keras_name)
                os.replace(keras_name, temporary)
            finally:
                if os.path.exists(keras_name):
                    os.remove(keras_name)
    return f"Keras weights (keras.applications.{constructor})"


def _keras_arrays(kind: str, prefix: str, state: dict) -> list:
    def get(role):
        return state[f"{prefix}.{role}"].detach().cpu().numpy()

    if kind == "conv":
        arrays = [get("weight").transpose(2, 3, 1, 0)]  # Cout×Cin×H×W -> H×W×Cin×Cout
        return arrays + ([get("bias")] if f"{prefix}.bias" in state else [])
    if kind == "dense":
        return [get("weight").T, get("bias")]
    return [get("weight"), get("bias"), get("running_mean"), get("running_var")]
