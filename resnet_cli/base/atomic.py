"""Files we write are never half written, and we write only where a file belongs.

``replacing(path, what)`` writes through a temporary file in the same folder, then renames it over the
file: a full disk, a read-only file system or a Ctrl-C leaves the previous file as it was. An output goes
only to a regular file or a name that does not exist yet: a FIFO, a device or a socket is refused (a rename
would replace the node; writing into it could block or reach a device). A symbolic link is followed: its
target is the file written (the link stays a link), and an existing file keeps its permissions (a 0600 file
stays 0600) and, where the system allows, its owner.

``special_kind`` says what a path that is not a regular file is ("a FIFO (named pipe)", "a character
device" …): the same test for files we read (``sources.checkpoint``) and files we write.

Exit codes: 2 where the name given cannot be used (its folder does not exist, it is a directory or a
special file); 1 where the system refuses a usable name (permission, read-only file system, no space).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile

from resnet_cli.base.errors import ResnetCliError, RuntimeFailure, UsageError
from resnet_cli.base.text import shown

_SPECIAL_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# the name given cannot be used (exit 2); any other refusal is the system's (exit 1)
UNUSABLE = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL}


def special_kind(path: str) -> str | None:
    """What ``path`` is when it exists and is not a regular file ("a FIFO (named pipe)", "a character device"
    …); None for a regular file or nothing at all. A symbolic link (``/dev/stdin``) is judged by its target."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), "not a regular file")


def failure(what: str, path: str, error: OSError, doing: str = "cannot write it") -> ResnetCliError:
    """An OSError met writing ``path`` as one true line: exit 2 when the name cannot be used, else 1."""
    reason = error.strerror or type(error).__name__
    kept = "; nothing written" if not os.path.exists(path) else "; the file there is unchanged"
    kind = UsageError if error.errno in UNUSABLE else RuntimeFailure
    return kind(f"{what} '{shown(path)}': {doing}: {reason}{kept}")


def writable_target(path: str, what: str) -> str:
    """The file a write to ``path`` goes to (a symbolic link's target), checked before any work: a UsageError
    for a directory, a special file or a missing folder, a RuntimeFailure for a folder we may not write in."""
    target = os.path.realpath(path) if os.path.islink(path) else path
    kind = special_kind(target)
    if kind == "a directory":
        raise UsageError(f"{what} '{shown(path)}' is a directory; give a file name")
    if kind is not None:
        via = f" (the link points to {shown(target)})" if target != path else ""
        raise UsageError(
            f"{what} '{shown(path)}' is {kind}{via}, not a regular file; outputs are written only to "
            "a regular file or a new name"
        )
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):  # named as the user wrote it (a link's target: as the link says)
        given = os.path.dirname(target) or "."
        raise UsageError(f"{what} '{shown(path)}': the folder {shown(given)} does not exist")
    if not os.access(folder, os.W_OK):
        reason = "read-only file system" if _read_only(folder) else "permission denied"
        raise RuntimeFailure(f"{what} '{shown(path)}': cannot write in the folder {shown(folder)}: {reason}")
    return target


def _read_only(folder: str) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def replacing(path: str, what: str):
    """Yield a temporary path beside the file ``path`` names; when the block ends it becomes that file
    (keeping an existing file's permissions), or is removed if the block fails. ``what`` names the option
    in the one-line error."""
    target = writable_target(path, what)
    folder = os.path.dirname(os.path.abspath(target))
    name = os.path.basename(target)
    try:
        before = os.stat(target)
    except OSError:
        before = None
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=os.path.splitext(name)[1], dir=folder)
        os.close(handle)
        yield temporary
        # mkstemp makes it private: an existing file keeps its own mode, a new one is an ordinary file
        os.chmod(temporary, stat.S_IMODE(before.st_mode) if before else 0o666 & ~_umask())
        if before is not None and hasattr(os, "chown"):
            with contextlib.suppress(OSError):
                os.chown(temporary, before.st_uid, before.st_gid)
        os.replace(temporary, target)
    except OSError as error:
        raise failure(what, path, error) from None
    finally:
        if temporary is not None and os.path.exists(temporary):
            with contextlib.suppress(OSError):
                os.remove(temporary)
