"""The audio benchmarks end to end on tiny inputs: real service processes, real Essentia, real numbers."""

from __future__ import annotations

import pytest

from load.bench.audio import AudioParams, overhead_section, scaling_section


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_audio_benchmarks_return_numbers_on_tiny_songs():
    params = AudioParams(
        overhead_runs=1,
        overhead_seconds=3.0,
        overhead_songs=1,
        scaling_songs=2,
        scaling_seconds=3.0,
        scaling_clients=2,
        scaling_rounds=1,
    )
    lines: list[str] = []
    overhead = overhead_section(params, lines.append)
    scaling = scaling_section(params, lines.append)

    (figure,) = overhead.figures
    assert figure.value > 0 and figure.limit > 0 and figure.passed is not None
    assert len(overhead.data["pairs"]) == 1
    speedup, throughput = scaling.figures
    assert speedup.value > 0 and throughput.value > 0 and throughput.limit > 0
    assert set(scaling.data["pools"]) == {"1", "2"}
    assert any("ready after" in line for line in lines)  # the tool's progress reached the caller
