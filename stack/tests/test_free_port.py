"""stack.processes.free_port: the ports stacks give their servers stay out of the kernel's ephemeral range, where
any outgoing connection could take one between the pick and the server's bind."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from stack import processes
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
