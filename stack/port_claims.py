"""Ports a process has handed out, claimed machine-wide until it exits, so that two stacks starting at once
never pick the same one.

free_port checks that nobody listens on a port, but the server binds it seconds later (a stack picks ~25 ports,
then starts its processes). Seen in CI: three local stacks starting side by side, two picked 21977 within that
window and the second one's HAProxy failed with "Address already in use". A claim is an exclusive `flock` on a
file named after the port in a private folder: the kernel drops it when the claiming process exits, however it
exits, so nothing is ever left to clean up and no process id is trusted. Other users' stacks use their own
folder and are not coordinated with (a listener they start is still seen by free_port's bind check).
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
from pathlib import Path

CLAIMS_FOLDER = Path(tempfile.gettempdir()) / f"hss-port-claims-{os.getuid()}"
_held: dict[int, int] = {}  # port → the open file descriptor holding its lock (kept for the process's life)


def private_folder(folder: Path) -> bool:
    """Create `folder` for this user only; False when it exists but another user could plant files in it
    (owned by someone else, or writable by group or others): claims are then skipped, not trusted."""
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def claim(port: int) -> bool:
    """Claim `port` for this process; False when this or another live process has claimed it already.

    Where no private folder can be had, every port counts as claimable: stacks then pick as they did before."""
    if port in _held:
        return False
    if not private_folder(CLAIMS_FOLDER):
        return True
    try:
        fd = os.open(CLAIMS_FOLDER / str(port), os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held[port] = fd
    return True
