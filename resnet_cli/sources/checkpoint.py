"""Checkpoints: read their tensors safely, and load them into a model with every mismatch listed.

``.pt``/``.pth``/``.bin``/``.ckpt`` files are read with ``torch.load(..., weights_only=True)`` only — never
unpickling arbitrary objects — and ``.safetensors`` with the ``safetensors`` package. A file may hold a
``state_dict`` itself or a dict holding one under a common key (``state_dict``, ``model``, ``module`` …);
a prefix every key shares (``module.`` from DistributedDataParallel, ``model.`` from Lightning) is removed.
What a checkpoint's tensors say about its architecture is read by ``resnet_cli.sources.spec_from_weights``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from resnet_cli.base.atomic import special_kind  # one test for files read and written
from resnet_cli.base.errors import RuntimeFailure, UsageError
from resnet_cli.base.values import shown

NESTED_KEYS = (
    "state_dict",
    "model_state_dict",
    "model",
    "module",
    "net",
    "network",
    "weights",
    "params",
    "model_ema",
    "state_dict_ema",
)
SHARED_PREFIXES = ("module.", "model.", "_orig_mod.", "net.", "backbone.")
MAX_LISTED = 20


@dataclass(frozen=True)
class Mismatch:
    """How a checkpoint's tensors differ from a model's, by name and shape."""

    missing: tuple[str, ...]  # the model has them, the checkpoint does not
    unexpected: tuple[str, ...]  # the checkpoint has them, the model does not
    misshaped: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]  # (name, model's, checkpoint's)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.misshaped)

    def lines(self) -> list[str]:
        # tensors of the right name and the wrong shape say most about what differs: they come first
        every = (
            [f"shape differs: {name}: model {_shape(a)}, checkpoint {_shape(b)}" for name, a, b in self.misshaped]
            + [f"missing in the checkpoint: {name}" for name in self.missing]
            + [f"unexpected in the checkpoint: {name}" for name in self.unexpected]
        )
        if len(every) > MAX_LISTED:
            every = every[:MAX_LISTED] + [f"… and {len(every) - MAX_LISTED} more"]
        return every

    def summary(self) -> str:
        return (
            f"{len(self.missing)} missing, {len(self.unexpected)} unexpected and {len(self.misshaped)} "
            "mis-shaped tensors"
        )


def _shape(shape) -> str:
    return "×".join(str(s) for s in shape) if shape else "scalar"


class CheckpointMismatch(RuntimeFailure):
    """A checkpoint that does not fit the model; ``details`` lists each tensor (printed before the error)."""

    def __init__(self, message: str, details: list[str]) -> None:
        super().__init__(message)
        self.details = tuple(details)


def _not_a_checkpoint(path: str, why: str, what: str = "MODEL") -> UsageError:
    return UsageError(
        f"{what} '{shown(path)}' is not a readable checkpoint ({why}); accepted: a state_dict saved "
        "with torch.save (.pt, .pth, .bin, .ckpt) or a .safetensors file"
    )


def _unwrap(obj, path: str, what: str = "MODEL") -> dict:
    """The state_dict inside what torch.load returned."""
    for _ in range(3):
        if not isinstance(obj, dict):
            break
        tensors = {k: v for k, v in obj.items() if _is_tensor(v)}
        if tensors and len(tensors) >= len(obj) / 2:
            return {str(k): v for k, v in tensors.items()}
        nested = next((obj[k] for k in NESTED_KEYS if isinstance(obj.get(k), dict)), None)
        if nested is None:
            break
        obj = nested
    raise _not_a_checkpoint(path, f"it holds no dict of tensors, nor one under {', '.join(NESTED_KEYS[:4])} …", what)


def _is_tensor(value) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _strip_prefix(state: dict) -> dict:
    for prefix in SHARED_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix) :]: v for k, v in state.items()}
    return state


def check_readable(path: str, what: str = "MODEL") -> None:
    """A UsageError unless ``path`` is a regular file: before anything opens it, so a FIFO or a device
    (``/dev/zero``, ``/dev/stdin``) is named as what it is and never read (it could block or never end)."""
    if not os.path.lexists(path):
        raise UsageError(f"{what} '{shown(path)}': no such file")
    if not os.path.exists(path):
        raise _not_a_checkpoint(path, "it is a symbolic link to nothing", what)
    kind = special_kind(path)
    if kind is not None:
        raise _not_a_checkpoint(path, f"it is {kind}, not a regular file", what)


def read(path: str, what: str = "MODEL") -> dict:
    """name -> tensor (on the CPU; memory-mapped where the format allows). ``what`` names the file in
    errors: MODEL, or the option that gave it (--weights)."""
    check_readable(path, what)
    from resnet_cli.sources import keras_files

    if keras_files.is_keras_file(path):  # Keras's weights, read as tensors with h5py, in this project's names
        return keras_files.read(path, what)
    if path.lower().endswith(".safetensors"):
        return _strip_prefix(_read_safetensors(path, what))
    import pickle

    import torch

    _check_magic(path, what)
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as error:  # the legacy (non-zip) format cannot be memory-mapped
            if "mmap" not in str(error):
                raise
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise _not_a_checkpoint(path, f"torch.load(weights_only=True) refused it: {_refusal(error)}", what) from None
    except Exception as error:  # noqa: BLE001 - weights_only runs no code: any failure means not a checkpoint
        text = str(error).strip()
        raise _not_a_checkpoint(
            path, f"{type(error).__name__}: {text.splitlines()[0][:160] if text else ''}", what
        ) from None
    return _strip_prefix(_unwrap(obj, path, what))


def _check_magic(path: str, what: str) -> None:
    """torch.save writes a zip archive (``PK``) or, in the legacy format, a pickle (protocol 2+ starts with
    0x80): any other first bytes (``/etc/passwd``, a text file, an image) are no checkpoint, said at once."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise RuntimeFailure(f"{what} '{shown(path)}': cannot read it: {error.strerror or error}") from None
    if not (head.startswith(b"PK") or head[:1] == b"\x80"):
        described = (
            "it is empty"
            if not head
            else "it starts neither as a zip archive nor as a pickle, as every file torch.save writes does"
        )
        raise _not_a_checkpoint(path, described, what)


def _refusal(error: BaseException) -> str:
    """torch's weights-only refusal in a few words: the class it would have had to unpickle, if it says."""
    import re

    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
    if found:
        return f"it holds a pickled {found.group(1)}, not only tensors (save the model's state_dict() instead)"
    return "it is not a file of tensors torch.save wrote"


def _read_safetensors(path: str, what: str = "MODEL") -> dict:
    try:
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    except Exception as error:  # noqa: BLE001 - safetensors raises its own SafetensorError
        raise _not_a_checkpoint(path, f"{type(error).__name__}: {str(error).strip()[:160]}", what) from None


def shapes(path: str) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in read(path).items()}


def mismatch(model_shapes: dict[str, tuple[int, ...]], checkpoint_shapes: dict[str, tuple[int, ...]]) -> Mismatch:
    missing = tuple(k for k in model_shapes if k not in checkpoint_shapes)
    unexpected = tuple(k for k in checkpoint_shapes if k not in model_shapes)
    misshaped = tuple(
        (k, model_shapes[k], checkpoint_shapes[k])
        for k in model_shapes
        if k in checkpoint_shapes and tuple(model_shapes[k]) != tuple(checkpoint_shapes[k])
    )
    return Mismatch(missing, unexpected, misshaped)


def model_shapes(model) -> dict[str, tuple[int, ...]]:
    """The tensors a checkpoint of ``model`` holds (its state_dict: parameters and persistent buffers)."""
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def load_into(model, path: str, *, rename: bool = False, what: str = "--weights") -> None:
    """Load ``path`` into ``model`` strictly: on the meta device only names and shapes are checked. Any
    missing, unexpected or mis-shaped tensor raises CheckpointMismatch (exit 1) listing them. ``rename``
    reads timm ResNetV2 names as torchvision's (for the models this project builds)."""
    state = read(path, what)
    if rename:
        from resnet_cli.sources.weight_names import to_torchvision_names

        state = to_torchvision_names(state)
    found = mismatch(model_shapes(model), {k: tuple(v.shape) for k, v in state.items()})
    if found:
        raise CheckpointMismatch(
            f"{shown(os.path.basename(path))} does not fit the model: {found.summary()} (listed above)", found.lines()
        )
    tensor = next(iter(model.state_dict().values()), None)
    if tensor is None or tensor.device.type == "meta":
        return
    import torch

    with torch.no_grad():
        model.load_state_dict(state, strict=True)
