"""Figure files: the formats we write, matplotlib set up without a display, and writes that never leave
half a file behind. matplotlib is imported by ``pyplot()`` only, so no command pays for it unless it draws."""

from __future__ import annotations

import os

from resnet_cli.base.errors import UsageError

IMAGE_FORMATS = ("svg", "png", "pdf")


def check_image_path(path: str, option: str) -> str:
    """The format of ``path`` from its suffix; a UsageError for another suffix, a missing folder or a name that
    is not a regular file (``resnet_cli.base.atomic.writable_target``)."""
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        raise UsageError(f"{option} '{path}': the file name must end in .svg, .png or .pdf")
    from resnet_cli.base.atomic import writable_target

    writable_target(path, option)  # a directory, a FIFO, a device, a missing folder: refused before any work
    return suffix


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, never a window)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def text_width(text: str, size: float = 9.0, bold: bool = False) -> float:
    """Width of ``text`` in inches at ``size`` points, in matplotlib's default font."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    width, _, _ = TextToPath().get_text_width_height_descent(text, prop, ismath=False)
    return width / 72.0


def save(figure, path: str, option: str = "--output") -> None:
    """Write ``figure`` to ``path`` (never half a file), then close it."""
    from resnet_cli.base.atomic import replacing

    suffix = check_image_path(path, option)
    try:
        with replacing(path, option) as temporary:
            # fixed metadata: the same figure gives the same bytes (committed images do not churn)
            metadata = {
                "svg": {"Date": None},
                "pdf": {"CreationDate": None, "ModDate": None},
                "png": {"Software": None},
            }[suffix]
            import matplotlib

            # SVG text stays text (searchable, selectable, smaller) instead of glyph outlines
            with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "resnet-cli"}):
                figure.savefig(temporary, format=suffix, dpi=150, metadata=metadata)
    finally:
        pyplot().close(figure)
