"""What each difference alone costs, and the rows adding up to the totals' difference (issue 16, requirement 3).

A row's ``params_delta``/``flops_delta`` is what that difference alone does to the reference: its edits (the
layer matches it explains, ``resnet_cli.comparison.findings.Finding.edits``) are applied to a copy of the
reference model on the meta device — a conv given the model's stride, padding, kernel or bias, a layer the
model lacks replaced by ``nn.Identity``, a layer only the model has inserted after the reference layer before
it, a block the model lacks removed — and the copy is analysed again. A forgotten max-pool is then charged
with every FLOP its larger maps cost downstream, and a bias on every conv with its parameters only.

Where a difference cannot be applied alone (a block of another kind, another expansion, a reference whose
code needs real tensors), its row carries the costs of the layers it names, at the reference's shapes: never
a cost that comes from a shape change upstream. Then one last row, "combined effect of the differences
above", holds what remains, so that the rows always add up exactly to the totals' difference.
"""

from __future__ import annotations

import copy

from resnet_cli.comparison.findings import config_changes
from resnet_cli.comparison.folding import Difference, with_costs
from resnet_cli.structure.align import EXTRA, MISSING, SAME, SHAPE

COMBINED_KIND = "combined"
_PARAMS_ATTRS = frozenset({"bias", "kernel", "groups", "affine", "layer"})
_FLOPS_ATTRS = frozenset({"stride", "padding", "dilation", "kernel", "groups", "kernel_size", "ceil_mode", "layer"})


class _CannotApply(Exception):
    """This edit has no counterpart on the reference model we can make."""


def charge(
    rows: tuple[Difference, ...], reference, reference_analysis, model, alignment, model_analysis=None
) -> tuple[Difference, ...]:
    """Every row costed alone where it can be (``costed`` "alone"), else by its own layers ("layers")."""
    from resnet_cli.report.rows import totals

    base = totals(reference_analysis)
    calls = {m.name: m.calls for m in reference_analysis.modules}
    model_calls = {m.name: m.calls for m in model_analysis.modules} if model_analysis is not None else {}
    charged = []
    for row in rows:
        if row.costed == "none" or not row.edits:
            charged.append(row)
            continue
        alone = _alone(row.edits, reference, model, calls, model_calls, tuple(reference_analysis.input_shape))
        if alone is not None:
            found = totals(alone)
            charged.append(with_costs(row, found.params - base.params, found.flops - base.flops, base.flops, "alone"))
        else:
            params, flops = _own_layers(row.edits)
            # and what it changed after it (the narrower layers after another expansion), as far as no other
            # difference came in between
            params += sum(_delta(m, "params") for m in row.consequences)
            flops += sum(_delta(m, "flops") for m in row.consequences)
            charged.append(with_costs(row, params, flops, base.flops, "layers"))
    return tuple(charged)


def combined(rows: tuple[Difference, ...], reference_analysis, model_analysis, alignment) -> Difference | None:
    """The row that makes the rows add up to the totals' difference, or None when they already do."""
    from resnet_cli.report.rows import totals

    base, other = totals(reference_analysis), totals(model_analysis)
    params = other.params - base.params - sum(r.params_delta for r in rows)
    flops = other.flops - base.flops - sum(r.flops_delta for r in rows)
    if not params and not flops:
        return None
    # fvcore counts a few operators by the Python call (a global pool written x.mean is 0 FLOPs): the same
    # layer, written another way, can count differently — said, since no difference explains it
    convention = sum(_counted_another_way(m) for _, m in alignment.matches())
    what = "combined effect of the differences above"
    if rows and any(r.costed == "alone" for r in rows):
        what += " (each row is what that difference alone does to the reference; together they interact)"
    note = ""
    if convention and convention == flops and not params:
        what = "the same layers, counted another way"
        note = (
            f"fvcore counts some operators by how they are called (a global pool written x.mean((2, 3)) is "
            f"0 FLOPs, AdaptiveAvgPool2d 1 per element): FLOPs {convention:+,}"
        )
    elif convention:
        note = f"of which FLOPs {convention:+,}: fvcore counts a global pool by how it is called"
    row = Difference(COMBINED_KIND, None, None, what, (), 0, 0, "remainder", what, note)
    return with_costs(row, params, flops, base.flops, "remainder")


def _counted_another_way(match) -> int:
    """FLOPs a global pool of the model counts more than the reference's way of writing it would (fvcore counts
    ``AdaptiveAvgPool2d`` 1 per input element, ``x.mean((2, 3))`` 0)."""
    from resnet_cli.base.shapes import numel

    if match.ref is None or match.model is None or match.ref.kind != "gap" or match.status not in (SAME, SHAPE):
        return 0
    if bool(match.ref.flops) == bool(match.model.flops):
        return 0
    return match.model.flops - (numel(match.model.in_shapes[0]) if match.ref.flops else 0)


# ---- one difference on the reference alone ----


def _alone(edits, reference, model, calls, model_calls, input_shape):
    """The reference with ``edits`` applied, analysed on the meta device; None where they cannot be applied."""
    from resnet_cli.analysis.analyze import analyze

    try:
        edited = copy.deepcopy(reference).to("meta")
        applied = False
        done = _apply_modules(edited, edits, model, calls, model_calls)
        applied = bool(done)
        for segment, match, attrs in edits:
            if id(match) not in done:
                applied |= _apply(edited, segment, match, attrs, model, calls)
        if not applied:
            return None
        return analyze(edited, input_shape)
    except Exception:  # noqa: BLE001 — an edit the reference cannot take (shapes that no longer meet): then its
        return None  # own layers are its cost, and the combined row the rest


def _apply_modules(edited, edits, model, calls, model_calls) -> set[int]:
    """Whole sub-modules at once (a squeeze-excitation, an ECA): the layers of one segment's edits that one module
    holds on each side — the reference's replaced by the model's, removed (``nn.Identity``), or the model's
    inserted after the reference layer before it. Returns the ``id`` of every match so applied."""
    from torch import nn

    from resnet_cli.structure.align import _common_path

    done: set[int] = set()
    by_segment: dict[int, list] = {}
    for segment, match, attrs in edits:
        if match is not None and attrs is None and match.status not in (SAME, SHAPE):
            by_segment.setdefault(id(segment), [segment, []])[1].append(match)
    for segment, matches in by_segment.values():
        if segment.ref is None or segment.model is None or len(matches) < 2:
            continue
        refs = [m.ref for m in matches if m.ref is not None]
        models = [m.model for m in matches if m.model is not None]
        ref_path = _common_path([l.module for l in refs], flat=False) if refs else ""
        model_path = _common_path([l.module for l in models], flat=False) if models else ""
        if (
            (refs and not _own_module(ref_path, segment.ref.path, calls))
            or (models and not _own_module(model_path, segment.model.path, model_calls))
            or not _counterparts(segment, matches, ref_path if refs else None, model_path if models else None)
        ):
            continue
        if refs and models:
            _replace(edited, ref_path, copy.deepcopy(model.get_submodule(model_path)).to("meta"))
        elif refs:
            _replace(edited, ref_path, nn.Identity())
        else:
            before = _reference_before(segment, matches[0])
            if before is None:
                continue
            path = _leaf(edited, before, calls)
            inserted = copy.deepcopy(model.get_submodule(model_path)).to("meta")
            _replace(edited, path, nn.Sequential(edited.get_submodule(path), inserted))
        done.update(id(m) for m in matches)
    return done


def _own_module(path: str, block: str, calls: dict) -> bool:
    """A module inside a block (never the block itself) that ran once: it can be swapped whole."""
    return bool(path) and path != block and calls.get(path) == 1


def _counterparts(segment, edited, ref_path: str | None, model_path: str | None) -> bool:
    """Whether the reference's module ``ref_path`` and the model's ``model_path`` hold exactly each other's layers
    (every match with a layer inside one has its other layer, if any, inside the other), and every edited match
    is inside them."""

    def inside(layer, path):
        return layer is not None and path is not None and (layer.module == path or layer.module.startswith(path + "."))

    covered = set()
    for match in segment.matches:
        in_ref, in_model = inside(match.ref, ref_path), inside(match.model, model_path)
        if (in_ref and match.model is not None and not in_model) or (in_model and match.ref is not None and not in_ref):
            return False
        if in_ref or in_model:
            covered.add(id(match))
    return {id(m) for m in edited} <= covered


def _apply(edited, segment, match, attrs, model, calls) -> bool:
    from torch import nn

    if match is None:  # a whole block the model lacks: the reference without it
        if segment.model is None and segment.ref is not None and segment.ref.path and calls.get(segment.ref.path) == 1:
            _replace(edited, segment.ref.path, nn.Identity())
            return True
        raise _CannotApply(segment)
    if match.status in (SAME, SHAPE):
        return False
    if match.status == MISSING:
        _replace(edited, _leaf(edited, match.ref, calls), nn.Identity())
        return True
    if match.status == EXTRA:
        before = _reference_before(segment, match)
        if before is None:
            raise _CannotApply(match)
        path = _leaf(edited, before, calls)
        _replace(edited, path, nn.Sequential(edited.get_submodule(path), _module_like(match.model, model)))
        return True
    changes = config_changes(match) if attrs is None else set(attrs) & config_changes(match)
    path = _leaf(edited, match.ref, calls)
    current = edited.get_submodule(path)
    if not changes:
        if attrs is not None:
            return False  # the arguments it explains changed nothing here (a stride row's unchanged shortcut conv)
        _replace(edited, path, _module_like(match.model, model))  # other channels: the model's own layer
        return True
    _replace(edited, path, _changed(current, match.ref.kind, dict(match.model.config), changes))
    return True


def _leaf(edited, layer, calls) -> str:
    """The module path of a reference layer that its own module runs alone (called once, no children)."""
    path = layer.module
    if not path or calls.get(path) != 1 or any(True for _ in edited.get_submodule(path).children()):
        raise _CannotApply(layer)
    return path


def _reference_before(segment, match):
    before = None
    for other in segment.matches:
        if other is match:
            return before
        if other.part == match.part and other.ref is not None:
            before = other.ref
    return None


def _module_like(layer, model):
    """The model's own module for one of its layers (on meta), or a new one for an activation."""
    from torch import nn

    if layer.module:
        try:
            module = model.get_submodule(layer.module)
        except AttributeError:
            module = None
        if module is not None and not any(True for _ in module.children()):
            return copy.deepcopy(module).to("meta")
    if layer.kind == "relu":
        return nn.ReLU()
    raise _CannotApply(layer)


def _changed(module, kind: str, config: dict, changes: set[str]):
    """A copy of a reference conv/pool/BatchNorm/linear with the model's values of ``changes``."""
    from torch import nn

    def pick(name, current):
        return config[name] if name in changes and name in config else current

    if kind == "conv" and isinstance(module, nn.Conv2d):
        return nn.Conv2d(
            module.in_channels,
            module.out_channels,
            pick("kernel", module.kernel_size),
            stride=pick("stride", module.stride),
            padding=pick("padding", module.padding),
            dilation=pick("dilation", module.dilation),
            groups=pick("groups", module.groups),
            bias=pick("bias", module.bias is not None),
            device="meta",
        )
    if kind in ("maxpool", "avgpool") and isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        fields = dict(
            kernel_size=pick("kernel_size", module.kernel_size),
            stride=pick("stride", module.stride),
            padding=pick("padding", module.padding),
            ceil_mode=pick("ceil_mode", module.ceil_mode),
        )
        if kind == "maxpool":
            return nn.MaxPool2d(**fields, dilation=pick("dilation", module.dilation))
        return nn.AvgPool2d(**fields, count_include_pad=pick("count_include_pad", module.count_include_pad))
    if kind == "linear" and isinstance(module, nn.Linear):
        return nn.Linear(
            module.in_features, module.out_features, bias=pick("bias", module.bias is not None), device="meta"
        )
    if kind == "bn" and isinstance(module, nn.BatchNorm2d):
        return nn.BatchNorm2d(module.num_features, affine=pick("affine", module.affine), device="meta")
    raise _CannotApply(kind)


def _replace(root, path: str, module) -> None:
    parent, _, name = path.rpartition(".")
    root.get_submodule(parent)._modules[name] = module


# ---- where a difference cannot be applied alone: its own layers, at the reference's shapes ----


def _own_layers(edits) -> tuple[int, int]:
    params = flops = 0
    seen = set()
    for segment, match, attrs in edits:
        matches = segment.matches if match is None else (match,)
        for one in matches:
            if id(one) in seen or one.status in (SAME, SHAPE):
                continue
            seen.add(id(one))
            explained = {"layer"} if attrs is None or match is None else set(attrs)
            ref, model = one.ref, one.model
            if explained & _PARAMS_ATTRS or (attrs is None and one.status not in (SAME, SHAPE)):
                params += (model.params if model else 0) - (ref.params if ref else 0)
            same_input = ref is None or model is None or ref.in_shapes == model.in_shapes
            if same_input and (explained & _FLOPS_ATTRS or attrs is None):
                flops += (model.flops if model else 0) - (ref.flops if ref else 0)
    return params, flops


def _delta(match, measure: str) -> int:
    return (getattr(match.model, measure) if match.model else 0) - (getattr(match.ref, measure) if match.ref else 0)
