"""The store before the work: checked usable before the first point is measured, and held by
one run at a time.

`check_usable` refuses a results_dir that is a file, sits under a file, cannot be created or
written, or has no room for records, with one line each, so nothing is measured only to be
lost at the first write. `StoreLock` is an advisory `flock` on `<store>/.lock` holding the
holder's pid, host and start time: a second run on the same store stops with a message naming
the holder, or waits for it with `wait=true`. The kernel drops the lock when its holder dies,
however it dies, so a stale lock file never blocks anyone.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import socket
import time
from pathlib import Path

from harness.errors import UserError

MIN_FREE_BYTES = 64 << 20  # records are small; below this a full disk is near
LOCK_NAME = ".lock"


def check_usable(store: str | Path) -> Path:
    """`store` created if needed and checked writable with room; a UserError otherwise."""
    store = Path(store)
    where = f"results_dir={str(store)!r}"
    if store.exists() and not store.is_dir():
        raise UserError(f"{where} is a file, not a directory; give a directory for the records")
    try:
        store.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"{where} cannot be created: a parent is a file, not a directory") from None
    except PermissionError:
        raise UserError(f"{where} cannot be created: permission denied") from None
    except OSError as exc:
        raise UserError(f"{where} cannot be created: {exc.strerror}") from None
    probe = store / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        reason = "read-only or not writable" if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else exc.strerror
        raise UserError(f"{where} is not writable ({reason})") from None
    free = shutil.disk_usage(store).free
    if free < MIN_FREE_BYTES:
        raise UserError(f"{where} has {free >> 20} MiB free; records need at least {MIN_FREE_BYTES >> 20} MiB")
    return store


class StoreLock:
    """`with StoreLock(store, wait=False):` the run's exclusive hold on `store`."""

    def __init__(self, store: str | Path, wait: bool = False):
        self.path = Path(store) / LOCK_NAME
        self.wait = wait
        self.fd: int | None = None

    def holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return "another run"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("since", 0)))
        return f"pid {info.get('pid')} on {info.get('host')} since {since}"

    def __enter__(self) -> "StoreLock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = self.holder()
            os.close(self.fd)
            self.fd = None
            raise UserError(f"{self.path.parent} is in use by {holder}; wait for it to finish, or pass wait=true "
                            "to queue behind it") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode())
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
