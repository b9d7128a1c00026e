"""Opening nubes' own files in a folder someone else might also write to.

The state folder holds secrets (state, journal, the sim cloud's database), so it is created mode
0700 and its files 0600. Files that nubes appends to or rewrites in place (the lock, the journal,
the history index) are opened without following symlinks, and must be regular files owned by the
user running nubes: a symlink planted there never gets its target written.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from nubes.engine.state.model import StateError


def ensure_private_dir(path: Path, inside: Path | None = None) -> None:
    """Create `path` (and its parents) if missing; a folder nubes creates is mode 0700. Below
    `inside` (the state folder), no folder may be a symlink: nubes writes its own files there,
    never through a link to somewhere else."""
    if inside is not None:
        refuse_linked_folders(path, inside)
    try:
        make_private_dirs(path)
    except OSError as exc:
        raise StateError(describe_os_error(exc, path, "create the folder")) from None


def refuse_linked_folders(path: Path, inside: Path) -> None:
    try:
        relative = path.relative_to(inside)
    except ValueError:
        return
    current = inside
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            raise StateError(
                f"{current} is a symbolic link; nubes never writes through one in its state "
                "folder. Remove it (and find out who put it there)."
            )


def make_private_dirs(path: Path) -> None:
    """mkdir -p, where every folder created (not only the last, as mkdir's mode gives) is 0700."""
    if path.is_dir():
        return
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            if not folder.is_dir():
                raise


def open_private(path: Path, flags: int, create: bool = True) -> int:
    """An fd for `path`, refusing symlinks and files that are not regular files of this user."""
    mode = flags | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, mode, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateError(
                f"{path} is a symbolic link; nubes never writes through one in its state folder. "
                "Remove it (and find out who put it there)."
            ) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(st.st_mode) else "owned by another user"
        raise StateError(
            f"{path} is {what}; nubes only writes its own files in its state folder. Remove it."
        )
    return fd


def describe_os_error(exc: OSError, path: Path | str, doing: str) -> str:
    """What went wrong with a file, and what the user can do about it."""
    where = exc.filename or path
    hint = {
        errno.ENOSPC: "the disk is full: free some space and run again",
        errno.EDQUOT: "the disk quota is used up: free some space and run again",
        errno.EROFS: "the file system is read-only: use a writable --state-dir",
        errno.EACCES: "permission denied: fix the folder's permissions or use another --state-dir",
        errno.EPERM: "permission denied: fix the folder's permissions or use another --state-dir",
        errno.ELOOP: "a symbolic link loop: fix the link or use another --state-dir",
        errno.ENOTDIR: "a part of the path is not a folder: use another --state-dir",
        errno.EISDIR: "it is a folder, not a file",
        errno.EEXIST: "it exists but is not a folder (or is a broken or looping symlink)",
    }.get(exc.errno or 0, exc.strerror or "")
    return f"cannot {doing} {where}: {hint}"
