"""The registry as a table: each variant's parameters and FLOPs at its default input (for `list`).

Analysing all the variants takes a few seconds (resnet1202 alone has 1,202 layers), so the computed
table is kept in the user's cache directory, keyed by a hash of this package's source and the torch
version: any change to a formula or a variant computes it afresh. RESNET_CLI_NO_CACHE=1 skips it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from resnet_cli import registry


def _cache_file() -> Path | None:
    if os.environ.get("RESNET_CLI_NO_CACHE"):
        return None
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for source in sorted(package.glob("*.py")):
        digest.update(source.read_bytes())
    try:
        from importlib.metadata import version

        digest.update(version("torch").encode())
    except Exception:
        return None
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "resnet-cli"
    return root / f"catalog-{digest.hexdigest()[:16]}.json"


def compute_catalog() -> list[dict]:
    from resnet_cli.report import totals
    from resnet_cli.target import analyze_target, resolve_target

    entries = []
    for name, variant in registry.VARIANTS.items():
        target = resolve_target(name)
        _, analysis = analyze_target(target)
        t = totals(analysis)
        entries.append({
            "name": name, "family": variant.family, "block": variant.spec.block.value,
            "layers": list(variant.spec.layers), "params": t.params, "flops": t.flops, "macs": t.macs,
            "gflops": round(t.flops / 1e9, 3), "gmacs": round(t.macs / 1e9, 3),
            "input": list(target.input_shape), "description": variant.description,
        })
    return entries


def catalog() -> list[dict]:
    path = _cache_file()
    if path is not None and path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
    entries = compute_catalog()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(entries))
            temporary.replace(path)
        except OSError:
            pass
    return entries
