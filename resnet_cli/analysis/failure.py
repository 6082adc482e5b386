"""Why a model's forward failed, in a student's words: the operator that raised, what it got, what that means.

The recorder keeps the operator that raised (``Run.failed_op``: its ATen name, the Python call, the shapes of its
activations and of its parameters); ``explain`` turns that and torch's own message into one sentence —
"the residual addition gets 1×128×16×16 and 1×64×32×32: the shortcut needs a projection (1×1 conv 64→128,
stride 2)". Operators are told apart by their kind in ``resnet_cli.analysis.ops`` (no ATen name here).
"""

from __future__ import annotations

from resnet_cli.analysis import ops as formulas

_WORDS = {
    "add": "the addition",
    "conv": "the convolution",
    "linear": "the linear layer",
    "bn": "the batch norm",
    "cat": "the concatenation",
    "maxpool": "the max-pool",
    "avgpool": "the avg-pool",
    "mean": "the mean",
}


def _shape(shape) -> str:
    return "×".join(str(s) for s in shape)


def operator_words(op: str | None, shapes=()) -> str:
    """The operator as people name it: "the residual addition", "the convolution", else its own name."""
    if not op:
        return "its own code"
    kind = formulas.kind_of(op)
    if kind == "add" and len(shapes) == 2 and all(len(s) == 4 for s in shapes):
        return "the residual addition"
    return _WORDS.get(kind, op)


def explain(op: str | None, shapes=(), params=(), reason: str = "") -> str:
    """One sentence: what the failing operator got and what that means (torch's message when we know no more)."""
    words = operator_words(op, shapes)
    kind = formulas.kind_of(op) if op else ""
    if kind == "add" and len(shapes) == 2:
        return f"{words} gets {_shape(shapes[0])} and {_shape(shapes[1])}: {_mismatch(shapes[0], shapes[1])}"
    if kind == "conv" and shapes and params:
        weight = params[0]
        got = shapes[0]
        if len(got) >= 2 and len(weight) >= 2 and "channels" in reason:
            return (
                f"{words} ({'×'.join(str(k) for k in weight[2:])}, weight {_shape(weight)}) gets {_shape(got)}: "
                f"it takes {weight[1]} channels per group, the tensor has {got[1]} ({reason})"
            )
        return f"{words} (weight {_shape(weight)}) gets {_shape(got)}: {reason}"
    if kind == "linear" and shapes:
        matrices = [s for s in shapes if len(s) == 2]
        if len(matrices) >= 2:
            features, weight = matrices[-2], matrices[-1]
            return (
                f"{words} takes {weight[0]} features and gets {features[1]} ({_shape(features)}): the map "
                "reaching it is not the size the layer was made for (a global pool or flatten missing, or an "
                "input of another size)"
            )
    if kind == "cat" and shapes:
        return f"{words} gets {' and '.join(_shape(s) for s in shapes)}: {reason}"
    got = f" gets {' and '.join(_shape(s) for s in shapes)}" if shapes else ""
    shrunk = any(phrase in reason for phrase in ("too small", "can't be greater than actual input size"))
    if shrunk and kind in ("conv", "maxpool", "avgpool"):  # the map shrank below the window before it got here
        reason += " — the map reaching it is smaller than its window: an input this small does not get this far"
    return f"{words}{got}: {reason}" if reason else f"{words}{got}"


def _mismatch(a, b) -> str:
    """Why two tensors cannot be added, as a residual block's author would put it."""
    if len(a) != 4 or len(b) != 4:
        return "their shapes do not broadcast"
    (_, ca, ha, wa), (_, cb, hb, wb) = a, b
    big, small = (a, b) if ha * wa >= hb * wb else (b, a)
    stride = big[2] // small[2] if small[2] and big[2] % small[2] == 0 and big[3] % small[3] == 0 else None
    if ca != cb:
        source, target = (big[1], small[1]) if stride else (cb, ca)
        strided = f", stride {stride}" if stride and stride > 1 else ""
        return f"the shortcut needs a projection (1×1 conv {source}→{target}{strided})"
    if stride and stride > 1:
        return (
            f"the two paths downsample differently ({max(big[2:])} → {max(small[2:])}): the shortcut's stride must "
            "equal the main path's"
        )
    difference = max(abs(ha - hb), abs(wa - wb))
    return (
        f"the maps differ by {difference} pixel{'s' if difference != 1 else ''}: a conv or pool on one path "
        "pads less than its kernel needs (padding k // 2 keeps the size)"
    )
