"""Which module each profiled operator's time belongs to, read from the ranges recorded around every module call.

While the profiler runs, every module's call is wrapped in a ``record_function`` range named
``resnet_cli.module:<qualified name>`` and every iteration in ``resnet_cli.iteration:<k>`` (``ranges``). The
profiler nests the events of one thread by time, so an operator's module is the innermost module range around
it. Its time is, on the CPU, its *self* CPU time (its own time minus its child operators': nested operators are
counted once); on CUDA, the device time of the kernels it launched (the profiler's CUDA activity, linked to the
operator by correlation id). The backward of a training step runs outside every module range: each of its
``autograd::engine::evaluate_function`` events carries the sequence number of the forward operator that made
its autograd node, and goes to that operator's module. What runs outside every module and has no forward
operator (the loss, AccumulateGrad) is *not attributed*, and said so.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from resnet_cli.analysis.ops import computing_kind
from resnet_cli.report.profile import OTHER_KIND

ITERATION = "resnet_cli.iteration:"
MODULE = "resnet_cli.module:"
BACKWARD_NODE = "autograd::engine::evaluate_function: "


@contextmanager
def module_ranges(model: torch.nn.Module):
    """A profiler range around every call of every module of ``model`` (and only of its modules), removed on exit."""
    names = {id(module): name for name, module in model.named_modules()}
    open_ranges: list = []

    def pre(module, args):
        name = names.get(id(module))
        if name is None:
            return
        handle = torch.autograd.profiler.record_function(MODULE + name)
        handle.__enter__()
        open_ranges.append((id(module), handle))

    def post(module, args, output):
        if id(module) not in names:
            return
        while open_ranges:  # close up to this module's range (a child that raised left its own open)
            owner, handle = open_ranges.pop()
            handle.__exit__(None, None, None)
            if owner == id(module):
                break

    first = torch.nn.modules.module.register_module_forward_pre_hook(pre)
    last = torch.nn.modules.module.register_module_forward_hook(post)
    try:
        yield
    finally:
        first.remove()
        last.remove()
        while open_ranges:
            open_ranges.pop()[1].__exit__(None, None, None)


@dataclass
class Attributed:
    """Per completed iteration: entry (module, anchor, kind) -> seconds; wall seconds; uncertain entries."""

    iterations: list[dict] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    uncertain: set = field(default_factory=set)


def _is_device(event) -> bool:
    return getattr(event, "device_type", None) is not None and str(event.device_type).endswith("CUDA")


def _kind_of(event) -> str:
    """The computing kind of the first operator in the event's subtree (itself first) that the table knows."""
    pending = [event]
    while pending:
        current = pending.pop(0)
        kind = computing_kind(current.name)
        if kind is not None:
            return kind
        pending = list(current.cpu_children) + pending
    return OTHER_KIND


def _seconds(event, cuda: bool) -> float:
    if cuda:
        return sum(kernel.duration for kernel in getattr(event, "kernels", ())) / 1e6
    return event.self_cpu_time_total / 1e6


def attribute(events, cuda: bool = False, compiled: bool = False) -> Attributed:
    """Walk the profiler's event trees (``prof.events()``) and attribute every operator's time."""
    roots = [e for e in events if e.cpu_parent is None and not _is_device(e)]
    iterations = sorted((e for e in roots if e.name.startswith(ITERATION)), key=lambda e: int(e.name[len(ITERATION) :]))
    result = Attributed()
    # events of other threads (CUDA's autograd thread) belong to the iteration whose time range holds them
    others = [e for e in roots if not e.name.startswith(ITERATION)]
    for iteration in iterations:
        start, end = iteration.time_range.start, iteration.time_range.end
        times: dict = {}
        forward: dict[int, tuple] = {}
        state = {"anchor": ""}
        trees = [iteration] + [e for e in others if start <= e.time_range.start and e.time_range.end <= end]
        for tree in trees:
            for child in tree.cpu_children if tree is iteration else [tree]:
                _walk(child, None, None, state, times, forward, result.uncertain, cuda, compiled)
        result.iterations.append(times)
        result.walls.append((end - start) / 1e6)
    return result


def _walk(event, module, entry, state, times, forward, uncertain, cuda: bool, compiled: bool) -> None:
    """``module``: the innermost module range around ``event`` (None: outside all); ``entry``: the key of the
    top-level operator it is part of (None: not inside one yet)."""
    name = event.name
    if name.startswith(MODULE):
        inner = name[len(MODULE) :]
        if inner and "." not in inner:
            state["anchor"] = inner  # the top-level child that ran last (for the root's own operators)
        for child in event.cpu_children:
            _walk(child, inner, None, state, times, forward, uncertain, cuda, compiled)
        return
    if getattr(event, "is_user_annotation", False) and entry is None:
        for child in event.cpu_children:  # a range of the user's own: look inside
            _walk(child, module, None, state, times, forward, uncertain, cuda, compiled)
        return
    if entry is None:
        if name.startswith(BACKWARD_NODE):
            origin = forward.get(event.sequence_nr)
            entry = (origin[0], origin[1], _kind_of(event)) if origin else (None, "", OTHER_KIND)
        elif module is not None:
            entry = (module, state["anchor"] if module == "" else "", _kind_of(event))
            if compiled:
                uncertain.add(entry)
        else:
            entry = (None, "", OTHER_KIND)
    if module is not None and event.sequence_nr is not None and event.sequence_nr >= 0:
        forward.setdefault(event.sequence_nr, entry)
    seconds = _seconds(event, cuda)
    if seconds:
        times[entry] = times.get(entry, 0.0) + seconds
    for child in event.cpu_children:
        _walk(child, module, entry, state, times, forward, uncertain, cuda, compiled)
