"""One model's weights under another model's names, from a structural alignment (``resnet_cli.structure.align``).

Every aligned pair of layers that reads parameters pairs its tensors (weight with weight, bias with bias,
BatchNorm running statistics with theirs); each tensor is found under its module in each model by its
role and shape, so names never matter. The port is refused — with the list of tensors that have no
counterpart — unless every parameter and buffer of the target gets exactly one source of the same shape.

Files are written with safetensors unless the name ends in ``.pt``/``.pth``/``.bin`` (then
``torch.save`` of a plain state_dict): safetensors files hold only tensors, so loading one cannot run
code (a pickle can), and they load without torch's version of the pickler. The file is written to a
temporary name and renamed, so a failure never leaves half a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from resnet_cli.base.errors import UsageError

_ROLES = ("weight", "bias", "running_mean", "running_var")
_PICKLE_SUFFIXES = (".pt", ".pth", ".bin")


@dataclass(frozen=True)
class Port:
    names: dict  # target state_dict name -> source state_dict name
    unmatched_target: tuple[str, ...]  # target tensors with no counterpart
    unmatched_source: tuple[str, ...]  # source tensors with no counterpart

    @property
    def complete(self) -> bool:
        return not self.unmatched_target and not self.unmatched_source


def _role(argument: str, shape: tuple[int, ...]) -> str:
    if argument in _ROLES:
        return argument
    return "weight" if len(shape) >= 2 else "bias"  # a linear layer's transposed weight, addmm's bias


def _tensor_name(model, module: str, role: str, shape: tuple[int, ...]) -> str | None:
    """The state_dict name of the tensor with ``role`` and ``shape`` held directly by ``module``."""
    try:
        owner = model.get_submodule(module) if module else model
    except AttributeError:
        return None
    held = list(owner.named_parameters(recurse=False)) + list(owner.named_buffers(recurse=False))
    found = [(name, t) for name, t in held if t is not None and tuple(t.shape) == tuple(shape)]
    chosen = [name for name, _ in found if name == role] or ([found[0][0]] if len(found) == 1 else [])
    if not chosen:
        return None
    return f"{module}.{chosen[0]}" if module else chosen[0]


def _layer_tensors(model, layer) -> list[tuple[str, str | None]]:
    """(role, state_dict name) of every tensor a layer reads, plus a BatchNorm's step counter."""
    found = []
    for module, argument, shape in layer.tensors:
        role = _role(argument, shape)
        found.append((role, _tensor_name(model, module, role, shape)))
    if layer.kind == "bn" and layer.tensors:
        module = layer.tensors[0][0]
        owner = model.get_submodule(module) if module else model
        if getattr(owner, "num_batches_tracked", None) is not None:
            found.append(("num_batches_tracked", f"{module}.num_batches_tracked" if module else "num_batches_tracked"))
    return found


def plan(alignment, source_model, target_model) -> Port:
    """Which source tensor each target tensor takes. ``alignment`` has the source as its reference."""
    source_shapes = {name: tuple(t.shape) for name, t in source_model.state_dict().items()}
    target_shapes = {name: tuple(t.shape) for name, t in target_model.state_dict().items()}
    names: dict[str, str] = {}
    for _, match in alignment.matches():
        if match.ref is None or match.model is None:
            continue
        source = dict(_layer_tensors(source_model, match.ref))
        target = dict(_layer_tensors(target_model, match.model))
        for role, target_name in target.items():
            source_name = source.get(role)
            if target_name is None or source_name is None:
                continue
            if target_shapes.get(target_name, ()) == source_shapes.get(source_name):
                names.setdefault(target_name, source_name)
    used = set(names.values())
    return Port(
        names, tuple(n for n in target_shapes if n not in names), tuple(n for n in source_shapes if n not in used)
    )


def ported_state(port: Port, source_state: dict) -> dict:
    """The target's state_dict filled from ``source_state`` (tensors copied, never shared)."""
    return {target: source_state[source].detach().clone().contiguous() for target, source in port.names.items()}


def refuse_message(port: Port, source: str, target: str) -> str:
    parts = []
    for names, owner, other in ((port.unmatched_target, target, source), (port.unmatched_source, source, target)):
        if names:
            count = f"{len(names)} tensor{'s' if len(names) != 1 else ''}"
            verb = "have" if len(names) != 1 else "has"
            parts.append(f"{count} of {owner} {verb} no counterpart in {other}: {', '.join(names)}")
    return f"--export-weights: cannot port {source}'s weights to {target}: " + "; ".join(parts) + "; nothing written"


def check_path(path: str) -> Path:
    """The file to write, refused before any work if its folder does not exist or it is a folder."""
    from resnet_cli.base.atomic import writable_target

    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--export-weights {path}: is a directory; give a file name, e.g. weights.safetensors")
    writable_target(path, "--export-weights")  # a FIFO, a device, a missing folder: refused before any work
    return target


def write(state: dict, path: str) -> str:
    """Write ``state`` to ``path`` atomically; returns the format written."""
    import torch

    from resnet_cli.base.atomic import replacing

    target = check_path(path)
    pickle = target.suffix.lower() in _PICKLE_SUFFIXES
    with replacing(str(target), "--export-weights") as temporary:
        if pickle:
            torch.save(state, temporary)
        else:
            from safetensors.torch import save_file

            save_file(state, temporary)
    return "torch.save state_dict" if pickle else "safetensors"
