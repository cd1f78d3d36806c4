"""stack.processes.free_port: the ports stacks give their servers stay out of the kernel's ephemeral range, where
any outgoing connection could take one between the pick and the server's bind, and no two live processes (two
stacks starting at once) hand out the same one (stack.port_claims)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import port_claims, processes
from stack.processes import PICK_FLOOR, free_port, port_is_free


@pytest.fixture
def ephemeral_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def use(text: str) -> None:
        source = tmp_path / "ip_local_port_range"
        source.write_text(text)
        monkeypatch.setattr(processes, "EPHEMERAL_RANGE_FILE", source)

    return use


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM])
def test_a_picked_port_is_below_the_ephemeral_range_and_free(ephemeral_range, kind: int) -> None:
    ephemeral_range("32768\t60999\n")
    ports = {free_port(kind=kind) for _ in range(20)}
    assert all(PICK_FLOOR <= port < 32768 for port in ports), sorted(ports)
    assert all(port_is_free(port, kind=kind) for port in ports)


def test_a_port_someone_listens_on_is_never_picked(ephemeral_range, monkeypatch: pytest.MonkeyPatch) -> None:
    ephemeral_range("32768 60999")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        spare = next(p for p in range(PICK_FLOOR, 32768) if p != taken and port_is_free(p))
        monkeypatch.setattr(processes.random, "sample", lambda population, k: [taken, spare])
        assert free_port() == spare


def test_without_room_below_the_range_the_kernel_picks(ephemeral_range, monkeypatch: pytest.MonkeyPatch) -> None:
    ephemeral_range("20500 60999")  # less than 1,000 ports below: bind(0), as before

    # The port bind(0) returns depends on this machine's real range (a CI host may start it at 1024), so the
    # test proves the path instead: no pick below the range is tried.
    def no_pick(population, k):
        raise AssertionError(f"picked from {population} with no room below the ephemeral range")

    monkeypatch.setattr(processes.random, "sample", no_pick)
    assert port_is_free(free_port())


def test_an_unreadable_range_falls_back_to_the_kernels_pick(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(processes, "EPHEMERAL_RANGE_FILE", tmp_path / "missing")
    assert port_is_free(free_port())


@pytest.fixture(autouse=True)
def claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:  # every test: none leaves a claim
    folder = tmp_path / "claims"
    held: dict[int, int] = {}
    monkeypatch.setattr(port_claims, "CLAIMS_FOLDER", folder)
    monkeypatch.setattr(port_claims, "_held", held)
    yield folder
    for fd in held.values():
        os.close(fd)


@pytest.fixture
def picks(ephemeral_range, monkeypatch: pytest.MonkeyPatch):
    """free_port's random picks below a 32768 ephemeral range, in the order given."""
    ephemeral_range("32768 60999")
    return lambda *ports: monkeypatch.setattr(processes.random, "sample", lambda population, k: list(ports))


def two_free_ports() -> tuple[int, int]:
    first = next(p for p in range(PICK_FLOOR + 1000, 32768) if port_is_free(p))
    return first, next(p for p in range(first + 1, 32768) if port_is_free(p))


HOLDER = """
import sys, time
from pathlib import Path
from stack import port_claims
port_claims.CLAIMS_FOLDER = Path(sys.argv[1])
assert port_claims.claim(int(sys.argv[2]))
print("claimed", flush=True)
time.sleep(60)
"""


def test_a_port_another_live_process_handed_out_is_skipped_until_that_process_exits(picks, claims: Path) -> None:
    # Two stacks starting at once: the other one picked `wanted` and has not bound it yet.
    wanted, spare = two_free_ports()
    picks(wanted, spare)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(claims), str(wanted)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "claimed"
        assert free_port() == spare  # free to bind, but claimed by the other process
    finally:
        holder.kill()
        holder.wait()
    assert free_port() == wanted  # the kernel dropped the claim with its process: nothing to clean up


def test_one_process_never_hands_out_the_same_port_twice(picks) -> None:
    first, second = two_free_ports()
    picks(first, second)
    assert [free_port(), free_port()] == [first, second]  # neither is bound yet: only the claim tells


def test_a_claims_folder_another_user_could_write_to_is_not_trusted(picks, claims: Path) -> None:
    claims.mkdir(mode=0o777)
    claims.chmod(0o777)  # e.g. planted by someone else, world-writable: a symlink there could aim anywhere
    wanted, _ = two_free_ports()
    picks(wanted)
    assert free_port() == wanted  # picked as before claims existed, and
    assert list(claims.iterdir()) == []  # nothing was created in it
