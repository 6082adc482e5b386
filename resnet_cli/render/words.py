"""Words for a diagram's numbers, shared by the terminal drawing (``views.draw``) and the figure
(``render.diagram``): a receptive field, which blocks of a stage have which shortcut."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resnet_cli.render import emit as render

if TYPE_CHECKING:
    from resnet_cli.report.draw import BlockGroup


def field_words(field) -> str:
    """'RF 427 px, stride 32' / 'RF 427×395 px, stride 32×16' / 'RF: whole input'."""
    if field is None:
        return ""
    record = field.as_dict()
    if record["global"]:
        return "RF: whole input"
    text = render.field_text({**record, "stride": None})
    stride = record["stride"]
    return f"RF {text} px" + (
        f", stride {render.field_text({**record, 'size': stride, 'stride': None})}" if stride else ""
    )


def block_numbers(group: BlockGroup) -> str:
    first = 1
    parts = []
    for text, count in group.shortcuts:
        blocks = f"block {first}" if count == 1 else f"blocks {first}–{first + count - 1}"
        parts.append(f"{text} ({blocks})" if len(group.shortcuts) > 1 else text)
        first += count
    return "; ".join(parts)
