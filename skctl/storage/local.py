"""Atomic local writes: a temporary file beside the destination, fsync'd and renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.base.progress import Progress
from skctl.base.signals import work_committed


def write_local(
    path: str, chunks: Iterator[bytes | memoryview], total: int | None, url: str, progress: Progress,
    mode: int | None = None, result: bool = True,
) -> None:
    """Write a temporary file beside `path`, fsync it, rename it over `path`; on any
    failure (or Ctrl-C) remove the temporary file, so `path` is old or new, never partial.

    A symlink is followed (the file it points to is replaced, the link stays). A FIFO or
    device (`-o /dev/stdout`) cannot be replaced by renaming, so it is written in place.
    `mode` sets the new file's permissions (0600 for a kubeconfig holding a token);
    by default they follow the umask, as for any new file. `result=False` is for a side
    file (the sandbox's kubeconfig): renaming it does not finish the command, so a later
    Ctrl-C still interrupts it.
    """
    if os.path.isdir(path) or path.endswith(os.sep):
        raise InputError(messages.STORAGE_IS_DIRECTORY.format(url=url))
    if os.path.exists(path) and not os.path.isfile(path):  # both follow symlinks, as open() does
        with open(path, "wb") as stream, progress(f"writing {url}", total) as advance:
            for chunk in chunks:
                stream.write(chunk)
                advance(len(chunk))
        return
    path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".skctl-partial", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f, progress(f"writing {url}", total) as advance:
            for chunk in chunks:
                f.write(chunk)
                advance(len(chunk))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask() if mode is None else mode)  # mkstemp makes 0600
        if result:
            work_committed()  # the rename cannot half-happen: from here a Ctrl-C no longer fails the command
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def write_side_file(path: str | os.PathLike[str], data: bytes, message: str, mode: int | None = None) -> None:
    """Write a file that is not the command's result (a kubeconfig, a tracer config, manifests)
    by write_local's rules (atomic, no partial file on a full disk) without committing the
    command; an OSError becomes OperationalError(`message`), formatted with path and detail."""
    from skctl.base.progress import no_progress

    name = os.fspath(path)
    if os.path.isdir(name):  # write_local's own message would ask for "a trace file"
        raise InputError(message.format(path=name, detail="it is a directory"))
    try:
        write_local(name, iter([data]), len(data), name, no_progress, mode=mode, result=False)
    except OSError as exc:
        raise OperationalError(message.format(path=name, detail=exc.strerror or exc)) from None


def open_for_reading(path: str | os.PathLike[str]) -> BinaryIO:
    """A local file opened for reading without ever waiting in open(): a FIFO with no
    writer would block open() forever; opened non-blocking and then switched back, its
    read sees the end at once (an empty input, refused as such), while a pipe or FIFO
    that has a writer (`<(zcat trace.gz)`) is read as usual."""
    import fcntl

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
