"""Per-request numbers of a Locust run, read from the `_stats.csv` Locust writes, and the totals table.

The CSV is the run's record (it sits next to the HTML report), so thresholds are judged on exactly
what the report shows, whether Locust ran from `load.run` or by hand.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RequestStats:
    type: str  # "POST", "GET", "DAG"; "" for the aggregate row
    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def _number(value: str) -> float:
    """Locust writes "N/A" for the percentiles of a row without requests."""
    try:
        return float(value)
    except ValueError:
        return 0.0


def read_stats_csv(path: Path | str) -> dict[str, RequestStats]:
    """`<prefix>_stats.csv` → stats by request name (the total row is "Aggregated")."""
    stats = {}
    with Path(path).open(newline="") as handle:
        for row in csv.DictReader(handle):
            entry = RequestStats(
                type=row["Type"],
                name=row["Name"],
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                rps=_number(row["Requests/s"]),
                p50_ms=_number(row["50%"]),
                p95_ms=_number(row["95%"]),
                p99_ms=_number(row["99%"]),
            )
            stats[entry.name] = entry
    return stats


def read_failures_csv(path: Path | str) -> list[str]:
    """`<prefix>_failures.csv` → one line per distinct failure, most frequent first."""
    try:
        with Path(path).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        return []
    rows.sort(key=lambda row: -int(row["Occurrences"] or 0))
    return [f"{row['Occurrences']:>5}x {row['Method']} {row['Name']}: {row['Error']}" for row in rows]


def format_table(stats: dict[str, RequestStats]) -> str:
    header = (
        f"{'type':<5} {'name':<52} {'requests':>8} {'fails':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    )
    lines = [header, "-" * len(header)]
    for entry in stats.values():
        lines.append(
            f"{entry.type:<5} {entry.name:<52} {entry.requests:>8} {entry.failures:>6} {entry.rps:>7.2f} "
            f"{entry.p50_ms:>8.0f} {entry.p95_ms:>8.0f} {entry.p99_ms:>8.0f}"
        )
    return "\n".join(lines)
