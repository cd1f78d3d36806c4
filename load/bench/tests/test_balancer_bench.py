"""load.bench.balancer's pure parts: the figures table and its place in docs/SCALING.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from load.bench import balancer


def test_the_table_names_each_replicas_share_and_the_added_latency() -> None:
    split = {"split": {"http://a": 5, "http://b": 3}, "largest_share": 5 / 8, "wall_s": 12.34}
    overhead = {"balancer": 0.0021, "direct": 0.0015, "added_ms": 0.6, "calls": 300}
    text = balancer.table(split, overhead, 8, (1.5, 1.0, 0.5))
    assert "| 5, 3 (largest share 62%; batch 12.3 s) |" in text
    assert "| 0.60 ms (2.10 ms through it, 1.50 ms direct) |" in text
    assert "Load average at the start: 1.50, 1.00, 0.50" in text


def test_write_docs_replaces_only_the_marked_block(tmp_path: Path) -> None:
    doc = tmp_path / "SCALING.md"
    doc.write_text(f"before\n{balancer.BEGIN}\nold figures\n{balancer.END}\nafter\n")
    balancer.write_docs("new figures", doc)
    assert doc.read_text() == f"before\n{balancer.BEGIN}\nnew figures\n{balancer.END}\nafter\n"


def test_the_committed_doc_has_the_markers() -> None:
    text = balancer.DOCS.read_text()
    assert text.index(balancer.BEGIN) < text.index(balancer.END)


def test_without_two_local_replicas_it_says_what_it_needs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    stack_file = tmp_path / "stack.json"
    stack_file.write_text('{"backend": "docker", "balancer": {"url": "http://127.0.0.1:8001"}}')
    assert balancer.main(["--stack-file", str(stack_file)]) == 2
    assert "needs a local `make up AUDIO_REPLICAS=2`" in capsys.readouterr().err
