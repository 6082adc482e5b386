"""The user's own code, behind one boundary: ``path/to/file.py:callable`` and ``package.module:callable``.

Whatever their code does — raise, call ``sys.exit``, print — is met here: exceptions and exits become one
``UserCodeError`` line (exit 1), a missing file or name a ``UsageError`` (exit 2). What it writes never reaches
the results: file descriptor 1 points at stderr while a command runs (``resnet_cli.render.streams``). Ctrl-C
and SIGTERM stop it even in a pure-Python loop (``resnet_cli.base.signals``), and a process it ends
(``os._exit``, a signal it sends itself) is reported by the parent that watches the run
(``resnet_cli.cli.supervisor``), never read as success.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

from resnet_cli.base import signals
from resnet_cli.base.errors import ResnetCliError, UsageError, UserCodeError, first_line
from resnet_cli.base.values import shown

REFERENCE_FORMS = "path/to/file.py:callable or package.module:callable"


def code_form(text: str) -> str | None:
    """ "file" (``path/to/file.py:callable``), "module" (``package.module:callable``) or None: whether ``text``
    has the form of a code reference. The callable is a dotted path of Python identifiers and the location a
    ``.py`` path or a dotted module name, so ``epoch:10.pth``, ``run:3/best.pt`` and ``C:model.pt`` are not."""
    location, _, attribute = str(text).rpartition(":")
    if not location or not attribute or re.match(r"^[A-Za-z]$", location):
        return None
    if not all(part.isidentifier() for part in attribute.split(".")):
        return None
    if location.endswith(".py"):
        return "file"
    if all(part.isidentifier() for part in location.split(".")):
        return "module"
    return None


def code_is_there(text: str) -> bool:
    """Whether the code ``text`` names exists — the ``.py`` file, or the module's top-level package (from the
    working directory or the installed packages) — found without importing, so without running, anything."""
    form = code_form(text)
    location = str(text).rpartition(":")[0]
    if form == "file":
        return os.path.isfile(location)
    if form == "module":
        try:
            with _cwd_on_path():
                spec = importlib.util.find_spec(location.split(".")[0])
        except (ImportError, ValueError):
            return False
        # a folder without __init__.py (a namespace package) runs nothing unless a module inside it is named
        return spec is not None and (spec.origin is not None or "." in location)
    return False


def is_reference(text: str, checkpoint_suffixes: tuple[str, ...]) -> bool:
    """True if MODEL ``text`` is read as code: it has the form of a code reference and names no file that
    exists (nor ends in a checkpoint suffix). A name that could be both is refused by ``ambiguous``."""
    return (
        code_form(text) is not None
        and not os.path.lexists(text)
        and not str(text).lower().endswith(tuple(checkpoint_suffixes))
    )


def ambiguous(text: str, checkpoint_suffixes: tuple[str, ...]) -> str | None:
    """The one-line refusal of a MODEL that reads both as a file and as code that is there, else None."""
    if code_form(text) is None or not code_is_there(text):
        return None
    exists = os.path.lexists(text)
    if not exists and not str(text).lower().endswith(tuple(checkpoint_suffixes)):
        return None
    location, _, attribute = str(text).rpartition(":")
    form = code_form(text)
    place = f"the file {shown(location)}" if form == "file" else f"the module {shown(location)}"
    checkpoint = "a checkpoint file of that name" + (" (it exists)" if exists else " (which does not exist)")
    fix = f"give the file as ./{shown(text)}" if form == "module" else "rename the checkpoint file"
    return (
        f"MODEL '{shown(text)}' reads two ways: as {checkpoint}, or as the callable {shown(attribute)} in "
        f"{place}, whose code would run; refused rather than guessed: {fix}"
    )


def not_code(text: str) -> str | None:
    """Why ``path:name`` is no code reference when ``path`` exists but is no ``.py`` file (a directory, a
    file of another kind), else None: said instead of "unknown model", and nothing is imported."""
    location = str(text).rpartition(":")[0]
    if not location or location.endswith(".py") or not os.path.exists(location):
        return None
    kind = "a directory" if os.path.isdir(location) else "a file" if os.path.isfile(location) else "a special file"
    return f"'{shown(text)}': {shown(location)} is {kind}, not a Python file; code is named as {REFERENCE_FORMS}"


def describe_failure(doing: str, error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"{doing} called sys.exit({error.code!r})"
    text = first_line(error)
    return f"{doing} raised {type(error).__name__}" + (f": {text}" if text and text != type(error).__name__ else "")


@contextlib.contextmanager
def guard(reference: str, doing: str):
    """Run user code: any exception or exit it raises becomes a UserCodeError naming ``reference``.

    Ctrl-C stays an interruption (its line says it came in this code), and our own errors (raised by
    callbacks of ours) pass through.
    """
    try:
        with signals.where(f"running your code {shown(reference)} ({doing})"):
            yield
    except (KeyboardInterrupt, ResnetCliError):
        raise
    except ModuleNotFoundError as error:
        _missing_keras(reference, error)
        raise UserCodeError(f"{reference}: {describe_failure(doing, error)}") from None
    except BaseException as error:  # noqa: BLE001 - SystemExit too: their code must not end our process
        raise UserCodeError(f"{reference}: {describe_failure(doing, error)}") from None


@contextlib.contextmanager
def _cwd_on_path():
    # like `python -m` and uvicorn: package.module:callable is looked up from the working directory too
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _import_file(reference: str, location: str):
    path = Path(location)
    if not path.exists():
        raise UsageError(f"{shown(reference)}: file not found: {shown(location)} (paths are relative to {os.getcwd()})")
    if not path.is_file():
        raise UsageError(
            f"{shown(reference)}: {shown(location)} is a {'directory' if path.is_dir() else 'special file'}, "
            "not a Python file"
        )
    module_name = "resnet_cli_user_" + re.sub(r"\W", "_", str(path.resolve()))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{shown(reference)}: {shown(location)} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling inside the file look themselves up here
    try:
        with _cwd_on_path(), guard(reference, f"importing {location}"):
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _import_module(reference: str, location: str):
    try:
        with _cwd_on_path():
            return importlib.import_module(location)
    except ModuleNotFoundError as error:
        _missing_keras(reference, error)
        if error.name and (location == error.name or location.startswith(error.name + ".")):
            raise UsageError(
                f"{shown(reference)}: no module named '{shown(error.name)}' (from {os.getcwd()} and the "
                "installed packages)"
            ) from None
        raise UserCodeError(f"{reference}: {describe_failure(f'importing {location}', error)}") from None
    except (KeyboardInterrupt, ResnetCliError):
        raise
    except BaseException as error:  # noqa: BLE001
        raise UserCodeError(f"{reference}: {describe_failure(f'importing {location}', error)}") from None


def _origin(module: str) -> str | None:
    try:
        with _cwd_on_path():
            spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return None
    return getattr(spec, "origin", None)


def _missing_keras(reference: str, error: ModuleNotFoundError) -> None:
    if (error.name or "").split(".")[0] in ("keras", "h5py"):
        from resnet_cli.sources.keras_model import missing

        raise missing(shown(reference)) from None


def load_factory(reference: str):
    """The object ``file.py:callable`` or ``package.module:callable`` names (a class or function)."""
    location, _, attribute = reference.rpartition(":")
    form = code_form(reference)
    if form is None:
        raise UsageError(f"'{shown(reference)}': expected {REFERENCE_FORMS} (the callable a dotted Python name)")
    from resnet_cli.sources import keras_model

    # Keras on its torch backend, before their code can import keras
    keras_model.select_backend(keras_model.mentions_keras(location if form == "file" else _origin(location)))
    if form == "file":
        module = _import_file(reference, location)
    else:
        module = _import_module(reference, location)
    keras_model.check_backend()
    target = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            defined = sorted(
                n
                for n, v in vars(module).items()
                if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
            )
            listing = f"; it defines: {', '.join(defined)}" if defined else "; it defines no callables"
            raise UsageError(f"{shown(reference)}: {shown(location)} has no callable '{shown(attribute)}'{listing}")
        target = getattr(target, part)
    if not callable(target):
        raise UsageError(
            f"{shown(reference)}: '{shown(attribute)}' is not callable (its type is "
            f"{type(target).__name__}); name a function or class returning an nn.Module"
        )
    return target


def instantiate(reference: str, factory, device: str | None):
    """Call the user's factory (under ``torch.device(device)`` if given) and check it made an nn.Module."""
    import torch
    from torch import nn

    if isinstance(factory, nn.Module):  # an instance handed to the Python API
        if device != "meta":
            return factory
        # analysed on a copy on the meta device, so the user's model is never touched; a model whose
        # copy fails (a custom __deepcopy__, tensors it cannot move) is run where it lives instead
        try:
            with guard(reference, "copying it to the meta device"):
                return copy.deepcopy(factory).to("meta")
        except UserCodeError:
            return factory
    with guard(reference, "calling it"):
        if device is None:
            model = factory()
        else:
            with torch.device(device):
                model = factory()
    if not isinstance(model, nn.Module):
        raise UsageError(f"{shown(reference)} returned a {type(model).__name__}, not a torch.nn.Module")
    return model
