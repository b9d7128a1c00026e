"""Reading the files a stack names: contained in the stack's folder, regular, and bounded.

A stack may read files only under its own folder (file(), template() and its includes, catalog
files), judged by real path, so a symlink pointing out is refused like `../`. Every file nubes
reads as input (those, the stack itself, var files, the server's configuration, saved plans)
must be a regular file below a size limit: a FIFO or a device would otherwise block or never end.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class InputFileError(Exception):
    """A file cannot be read as input; the message says why, for the user."""


def resolve_inside(root: Path, name: object, what: str = "path") -> Path:
    """The real path `name` names under `root`; refuses one that leaves it."""
    if not isinstance(name, str) or not name:
        raise InputFileError(f"a {what} must be a non-empty string")
    if "\0" in name:
        raise InputFileError(f"{what} {name!r} holds a NUL character")
    try:
        base = root.resolve()
        target = (base / name).resolve()
    except (OSError, RuntimeError) as exc:  # a loop, or a link changed while it was followed
        raise InputFileError(f"cannot resolve {what} {name!r}: {exc}") from None
    if not target.is_relative_to(base):
        raise InputFileError(f"{what} {name!r} leaves the stack's folder {base}")
    return target


def read_inside(root: Path, name: object, limit: int, what: str = "file") -> str:
    """The text of the regular file `name` names under `root`. What was opened is checked, not
    only what the path said before: a symlink swapped in between the check and the open
    (a race) is refused too."""
    target = resolve_inside(root, name, what)
    return read_regular(target, limit, what, inside=root.resolve())


def read_regular(path: Path, limit: int, what: str = "file", inside: Path | None = None) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes (and, given `inside`, one
    that really is under that folder once opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputFileError(f"no such {what} {path}") from None
    except IsADirectoryError:
        raise InputFileError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        if inside is not None:
            _check_opened(fd, path, inside, what)
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputFileError(f"{what} {path} is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise InputFileError(f"{what} {path} is not a regular file (a pipe or a device)")
        if st.st_size > limit:
            raise InputFileError(
                f"{what} {path} is {st.st_size:,} bytes, more than the {_size(limit)} allowed"
            )
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise InputFileError(f"{what} {path} grew past the {_size(limit)} allowed")
            chunks.append(chunk)
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{what} {path} is not UTF-8 text ({exc.reason})") from None


def _check_opened(fd: int, path: Path, inside: Path, what: str) -> None:
    try:
        opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return  # no /proc: the check before the open stands alone
    if not opened.is_relative_to(inside):
        raise InputFileError(f"{what} {path} leaves the stack's folder {inside}")


def _size(limit: int) -> str:
    if limit % 2**20 == 0:
        return f"{limit // 2**20} MiB"
    return f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit:,} bytes"
