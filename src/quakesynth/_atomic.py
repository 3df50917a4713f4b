"""Atomic outputs: write beside the target, then move into place.

An interrupted command never leaves a half-written file or dataset behind, and an existing
output is never replaced unless the caller says so.

Temporary outputs are named ``.<target name>.qs-<host>-<pid>-<random><suffix>`` (``host``: 8 hex
digits identifying the machine, ``pid``: the writing process). A run killed without a chance to
clean up (``kill -9``, power loss) leaves one behind; the next run that writes the same target
on the same machine removes every such file whose process is gone (:func:`remove_stale`).
Outputs get the permissions ``open`` / ``mkdir`` would give them: ``0o666`` for files and
``0o777`` for folders, less the process umask.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Suffixes of the temporary outputs of this package (files, folders, data-parallel parts).
TEMP_SUFFIXES = (".tmp", ".raw", ".parts")


class Terminated(SystemExit):
    """SIGTERM, raised in the main thread so that every ``with`` block cleans up (exit 128 + 15)."""


#: Exit statuses of SIGTERMs received and not yet handled (see :func:`check_terminated`).
_PENDING: list[int] = []


def on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM handler: remember the signal and raise :class:`Terminated` where the program is."""
    _PENDING.append(128 + signum)
    raise Terminated(128 + signum)


def check_terminated() -> None:
    """Raise :class:`Terminated` if a SIGTERM arrived and was not handled yet.

    Python only prints an exception raised inside a weakref callback or a ``__del__`` ("Exception
    ignored in ..."): a SIGTERM that lands there would be lost and a long run would go on. Loops that
    stream chunks call this once per chunk, so the run stops at the next chunk at the latest.
    """
    if _PENDING:
        raise Terminated(_PENDING[-1])


def clear_terminated() -> None:
    """Forget handled SIGTERMs (the CLI calls this once it has reported one)."""
    _PENDING.clear()


def _host_id() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def umask() -> int:
    """The process umask (read without changing it where /proc tells it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_parent(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path, raising ``FileNotFoundError`` if its folder does not exist
    (outputs never create missing folders: a typo would otherwise scatter files)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"output folder {str(parent)!r} does not exist; create it first "
                                f"(mkdir -p {parent}) or choose another output path")
    return path


def check_writable(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Return ``path`` as a Path, raising ``FileExistsError`` if it exists and may not be replaced."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"output {str(path)!r} exists; pass overwrite=True (--overwrite) to replace it")
    return path


def temp_path(path: str | os.PathLike, suffix: str = ".tmp", directory: bool = False) -> Path:
    """Create and return an empty temporary file (or folder) beside ``path``, named with this
    machine and process so that :func:`remove_stale` can tell a dead run's leftovers."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    remove_stale(path)
    for _ in range(100):
        tmp = parent / f".{path.name}.qs-{_host_id()}-{os.getpid()}-{secrets.token_hex(4)}{suffix}"
        try:
            if directory:
                tmp.mkdir(mode=0o700)
            else:
                os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary output beside {str(path)!r}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary outputs of ``path`` left by dead processes of this machine; returns
    the removed paths. Temporary outputs of live processes, of other machines and files that
    are not ours are left alone."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.qs-([0-9a-f]{{8}})-(\d+)-[0-9a-f]+"
                         rf"({'|'.join(re.escape(s) for s in TEMP_SUFFIXES)})$")
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    me = _host_id()
    for entry in entries:
        m = pattern.match(entry.name)
        if m and m.group(1) == me and int(m.group(2)) != os.getpid() and not _alive(int(m.group(2))):
            _remove(Path(entry.path))
            removed.append(Path(entry.path))
    return removed


class OutputError(OSError):
    """Writing an output failed (disk full, file-size limit, permissions, I/O error); the
    message is one line naming the output, the reason and what to do."""

    def __str__(self) -> str:
        return str(self.strerror)


_HINTS = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space (disk quota) or write elsewhere",
    errno.EFBIG: "a file-size limit (ulimit -f) or the file system caps the size; write elsewhere or less",
    errno.EACCES: "check the folder's permissions",
    errno.EPERM: "check the folder's permissions",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.EIO: "the device reported an I/O error",
}


def output_error(path: str | os.PathLike, exc: BaseException) -> OutputError:
    """An :class:`OutputError` for a failed write of ``path`` (the partial output is removed by
    the caller's :func:`atomic_path`)."""
    if isinstance(exc, OutputError):
        return exc
    code = getattr(exc, "errno", None)
    if not isinstance(code, int):  # h5py and ObsPy sometimes hide the errno in the text
        m = re.search(r"errno = (\d+)|\[Errno (\d+)\]", str(exc))
        code = int(m.group(1) or m.group(2)) if m else None
    if isinstance(code, int):
        reason = os.strerror(code).lower()
    else:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    hint = _HINTS.get(code, "check the output folder")
    return OutputError(code, f"cannot write {str(path)!r}: {reason}; {hint} (no output was left behind)")


class GuardedFile:
    """A binary file for h5py's file-object driver that stops writing after the first OS error.

    h5py flushes caches when objects are garbage-collected; after a write error (a full disk)
    each such flush fails again, prints tracebacks and can crash the interpreter. Once a write
    failed, this wrapper records the error and discards further writes, so the HDF5 file closes
    cleanly; :meth:`check` re-raises the recorded error so the output is never taken as
    complete (the caller removes it).
    """

    def __init__(self, path: str | os.PathLike, mode: str = "w+b") -> None:
        # unbuffered: every write error surfaces in write(), never later in seek() or close()
        self._f = open(path, mode, buffering=0)  # noqa: SIM115 -- closed by close()
        self.error: OSError | None = None

    def _guard(self, fn: Any, *args: Any, default: Any = None) -> Any:
        if self.error is not None:
            return default
        try:
            return fn(*args)
        except OSError as e:
            self.error = e
            raise

    def write(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        return self._guard(self._write_all, view, default=len(view))

    def _write_all(self, view: memoryview) -> int:
        done = 0
        while done < len(view):  # a raw write may be short
            done += self._f.write(view[done:])
        return done

    def flush(self) -> None:
        self._guard(self._f.flush)

    def truncate(self, size: int | None = None) -> int:
        return self._guard(self._f.truncate, size, default=size or 0)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def readinto(self, b: Any) -> int:
        return self._f.readinto(b)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._guard(self._f.seek, offset, whence, default=offset)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        if self._f.closed:
            return
        try:
            self._f.close()
        except OSError as e:
            self.error = self.error or e

    @property
    def closed(self) -> bool:
        return self._f.closed

    def check(self) -> None:
        """Raise the first write error, if any."""
        if self.error is not None:
            raise self.error


@contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success move it onto ``path``.

    Parameters
    ----------
    path : target file or folder.
    overwrite : replace an existing target (otherwise ``FileExistsError``).
    directory : the caller writes a folder (created empty for it) rather than a file.

    On an exception (``KeyboardInterrupt`` and the ``SystemExit`` of the CLI's SIGTERM handler
    included) the temporary output is removed and the target is untouched. Stale temporary
    outputs of the same target left by dead processes are removed first. The output gets the
    umask-honouring permissions of a new file or folder.
    """
    path = check_writable(path, overwrite)
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path, directory=directory)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    try:
        os.chmod(tmp, (0o777 if directory else 0o666) & ~umask())
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            _remove(old)
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(p: Path) -> None:
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()
    except FileNotFoundError:
        pass
