"""A non-root host user for the tests of the laptop case: CI runs as root, a laptop user does not.

    user = ensure_host_user()           # as root: the system user `hss-e2e` (created once); else: you
    subprocess.run(user.argv(["id"]))   # runs as that user (setpriv), HOME set to theirs
    with traversable_for(path):         # as root: o+x on the folders above `path` for the test, then restored

The docker test stack runs its containers as this user's uid (AIRFLOW_UID), so a test can use one data root
from local processes and from containers as the same user, as a laptop user does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TEST_USER = "hss-e2e"
# useradd from two processes at once (two xdist workers, each starting a stack) can leave two uids behind for one
# name: one creates the user at a time, under an flock on the (root-owned, existing) passwd file — no lock file in
# a folder other users may write to.
CREATE_LOCK = Path("/etc/passwd")


@dataclass(frozen=True)
class HostUser:
    name: str
    uid: int
    gid: int
    home: str

    @property
    def ids(self) -> tuple[int, int]:
        return self.uid, self.gid

    def argv(self, command: list[str]) -> list[str]:
        """`command` run as this user (as root: setpriv, which execs; as this user already: unchanged)."""
        if os.geteuid() == self.uid:
            return command
        drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--"]
        return [*drop, "env", f"HOME={self.home}", f"USER={self.name}", *command]


def as_user(name: str) -> HostUser:
    entry = pwd.getpwnam(name)
    return HostUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def ensure_host_user(name: str = TEST_USER) -> HostUser:
    """As root, the non-root user `name` (created with a home when missing); otherwise the current user."""
    if os.geteuid() != 0:
        return as_user(pwd.getpwuid(os.getuid()).pw_name)
    with CREATE_LOCK.open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return as_user(name)
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True, capture_output=True)
            return as_user(name)


@contextlib.contextmanager
def traversable_for(*paths: Path) -> Iterator[None]:
    """Let any user pass through the folders above `paths` (o+x, not read) while the block runs; as root only."""
    changed: list[tuple[Path, int]] = []
    if os.geteuid() == 0:
        for path in paths:
            for folder in Path(path).resolve().parents:
                mode = stat.S_IMODE(folder.stat().st_mode)
                if not mode & stat.S_IXOTH and (folder, mode) not in changed:
                    changed.append((folder, mode))
                    folder.chmod(mode | stat.S_IXOTH)
    try:
        yield
    finally:
        for folder, mode in reversed(changed):
            folder.chmod(mode)
