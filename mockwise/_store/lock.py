"""A state directory that is ours, held by one server at a time.

What `mockwise serve` keeps in its state directory (the state database, `sandbox.json` with the
client secret, the CA's and the clients' private keys) is trusted when read back, so the directory
must be this user's alone, as ssh demands of `~/.ssh`: `check_directory` refuses (one line, the
fix, `UnsafeState`) a directory or one of mockwise's files in it that another user owns or that
group or others may write, and a symbolic link where mockwise keeps a file. A directory mockwise
makes is made 0700. Files are written without following links (`mockwise._pki.write_file`).

`StateLock` holds an exclusive `flock` on the directory itself (its open descriptor), which no
one can delete from under a running server: removing `serve.lock`, which only names the holder's
pid for the message, does not let a second server in. The operating system lets go of the lock
when the process dies, even by `kill -9`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from mockwise._pki import write_file

STATE_FILE = "state.db"
LOCK_FILE = "serve.lock"
#: The files mockwise keeps in a state directory (`clients/` holds the client certificates and keys).
KEPT = (
    STATE_FILE,
    f"{STATE_FILE}-wal",
    f"{STATE_FILE}-shm",
    LOCK_FILE,
    "sandbox.json",
    "ca.pem",
    "ca.key",
    "server.pem",
    "server.key",
    "sca-private-key.pem",
    "clients",
)


class StateError(RuntimeError):
    """The state directory cannot be used as it is. The message is one line: what is wrong, with
    which file, and what to do."""


class UnsafeState(StateError):
    """The state directory, or a file in it, is not this user's alone: the user must fix it
    (the command line answers exit status 2, as for any input that cannot work)."""


def check_directory(directory: Path, *, create: bool = True) -> None:
    """Make `directory` (0700) if it is missing and `create`; refuse it, or any file mockwise keeps
    in it, when another user owns it, group or others may write it, or a file is a symbolic link."""
    if create and not os.path.lexists(directory):
        directory.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
    try:
        info = os.stat(directory)  # the directory the user named, through any link they made
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeState(f"--state-dir {directory} is not a directory: give --state-dir a directory")
    _owned(directory, info, "directory")
    for name in KEPT:
        _check_file(directory / name)
    clients = directory / "clients"
    if clients.is_dir() and not clients.is_symlink():
        for entry in os.scandir(clients):
            _check_file(Path(entry.path))


def _check_file(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeState(
            f"{path} is a symbolic link, where mockwise keeps a file of its own: remove it (mockwise never "
            "follows a link in its state directory)"
        )
    _owned(path, info, "directory" if stat.S_ISDIR(info.st_mode) else "file")


def _owned(path: Path, info: os.stat_result, what: str) -> None:
    uid = _uid()
    if uid is None:  # pragma: no cover - Windows: no owners and modes to check
        return
    if info.st_uid != uid:
        raise UnsafeState(
            f"{path} belongs to user {info.st_uid}, not to this user ({uid}): a state {what} must be this "
            "user's alone; give --state-dir a directory of your own, or chown it"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeState(
            f"{path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o}): a state {what} "
            f"must be this user's alone; run `chmod go-w {path}`, or give --state-dir a directory of your own"
        )


def _uid() -> int | None:
    getuid = getattr(os, "getuid", None)
    return getuid() if getuid is not None else None


class StateLock:
    """An exclusive lock on a state directory, held while the process lives (see the module
    docstring). Acquiring it checks the directory first (`check_directory`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> StateLock:
        check_directory(self.directory)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks; one server is trusted
            return self
        fd = os.open(self.directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateError(
                f"{self.directory} is in use by another mockwise serve ({self._holder()}): stop it, or give "
                "this one its own --state-dir"
            ) from None
        self._fd = fd
        try:
            write_file(self.path, f"pid {os.getpid()}\n", 0o600)  # who holds it, for the message above
        except BaseException:
            self.release()
            raise
        return self

    def _holder(self) -> str:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return "another process"
        with os.fdopen(fd, encoding="utf-8", errors="replace") as held:
            text = held.read(64).strip()
        return text if text.startswith("pid ") and text[4:].isdigit() else "another process"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # lets go of the flock
            self._fd = None


def forget(directory: Path) -> bool:
    """Delete the state database of a stopped server (certificates and keys stay); whether there
    was one. StateError while a server holds the directory."""
    lock = StateLock(directory).acquire()
    try:
        return remove_state(directory)
    finally:
        lock.release()


def remove_state(directory: Path) -> bool:
    """Delete `directory`'s state database (the caller holds its `StateLock`); whether there was one."""
    found = False
    for suffix in ("", "-wal", "-shm"):
        path = directory / (STATE_FILE + suffix)
        if os.path.lexists(path):
            path.unlink()
            found = True
    return found
