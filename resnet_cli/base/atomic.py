"""Files we write are never half written: through a temporary file in the same folder, then renamed."""

from __future__ import annotations

import contextlib
import os
import tempfile

from resnet_cli.base.errors import RuntimeFailure


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def replacing(path: str, what: str):
    """Yield a temporary path beside ``path``; when the block ends it becomes ``path`` (with ordinary
    permissions), or is removed if the block fails. ``what`` names the option in the one-line error."""
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=os.path.splitext(name)[1], dir=folder)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; ours is an ordinary file
        os.replace(temporary, path)
    except OSError as error:
        raise RuntimeFailure(f"{what} '{path}': cannot write it: {error.strerror or error}; nothing written") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
