"""Figures, targets and the two renderings of a bench run: the terminal table and docs/PERFORMANCE.md.

Plain data and text, no I/O beyond reading /proc and writing the report, so it is tested without a stack.

A `Figure` is one measured number next to its physical limit (what Essentia on these cores, or a linear
growth, would allow) and maybe a `Target`. A target applies to one of three quantities:

    on="value"   the figure itself             (pool speedup >= 1.7)
    on="ratio"   measured / limit               (service overhead: service/direct <= 1.10; batch >= 0.70)
    on="excess"  measured - limit               (Airflow's added time: trigger→success - service time <= 1.2 s)
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from load.bench.cpu import machine_steal_s
from load.bench.tuning import PROFILE_MD, TUNING_MD

OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


@dataclass(frozen=True)
class Target:
    op: str  # "<=" or ">="
    threshold: float
    on: str = "value"  # "value" | "ratio" | "excess"

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"target op must be one of {sorted(OPS)}, not {self.op!r}")
        if self.on not in ("value", "ratio", "excess"):
            raise ValueError(f"target applies to value, ratio or excess, not {self.on!r}")

    def describe(self, unit: str = "") -> str:
        if self.on == "ratio":
            return f"{self.op} {self.threshold:g}x limit"
        if self.on == "excess":
            return f"{self.op} limit + {self.threshold:g}{_unit(unit)}"
        return f"{self.op} {self.threshold:g}{_unit(unit)}"


@dataclass
class Figure:
    name: str
    value: float
    unit: str = ""
    target: Target | None = None
    limit: float | None = None
    limit_label: str = ""  # what the limit is, e.g. "direct MusicExtractor", "linear"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """measured / limit (None without a limit, or a zero limit)."""
        if self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit

    @property
    def excess(self) -> float | None:
        return None if self.limit is None else self.value - self.limit

    def checked(self) -> float | None:
        """The quantity the target applies to."""
        if self.target is None:
            return None
        return {"value": self.value, "ratio": self.ratio, "excess": self.excess}[self.target.on]

    @property
    def passed(self) -> bool | None:
        """True/False against the target; None when there is no target (or nothing to compare)."""
        quantity = self.checked()
        if self.target is None or quantity is None:
            return None
        return OPS[self.target.op](quantity, self.target.threshold)

    @property
    def status(self) -> str:
        return {True: "PASS", False: "MISS", None: "—"}[self.passed]


@dataclass
class Section:
    """One benchmark: its figures, how they were measured, what limits them, details (markdown lines)."""

    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    method: str = ""
    limits: str = ""
    details: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0  # how long the benchmark took
    data: dict[str, Any] = field(default_factory=dict)  # raw numbers for bench.json


def fmt(value: float | None, unit: str = "") -> str:
    """A number with sensible precision for a table cell."""
    if value is None:
        return "—"
    magnitude = abs(value)
    text = f"{value:.3f}" if magnitude < 10 else f"{value:.1f}" if magnitude < 1000 else f"{value:.0f}"
    return f"{text}{_unit(unit)}"


def _unit(unit: str) -> str:
    if not unit:
        return ""
    return unit if unit in ("x", "%") else f" {unit}"


TABLE_HEADERS = ("benchmark", "measured", "target", "limit", "ratio", "status")


def table_rows(sections: list[Section]) -> list[tuple[str, ...]]:
    rows = []
    for section in sections:
        if section.error:
            rows.append((section.title, "error", "", "", "", "ERROR"))
            continue
        for f in section.figures:
            limit = fmt(f.limit, f.unit) + (f" ({f.limit_label})" if f.limit_label and f.limit is not None else "")
            target = f.target.describe(f.unit) if f.target else ""
            ratio = f"{f.ratio:.2f}" if f.ratio is not None else "—"
            rows.append((f.name, fmt(f.value, f.unit), target, limit, ratio, f.status))
    return rows


def text_table(headers: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    """Fixed-width text table for the terminal."""
    rows = [headers, *body]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(headers: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(out)


def render_table(sections: list[Section]) -> str:
    return text_table(TABLE_HEADERS, table_rows(sections))


def markdown_table(sections: list[Section]) -> str:
    return md_table(TABLE_HEADERS, table_rows(sections))


# --- the machine -----------------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model(cpuinfo: str | None = None) -> str:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else (platform.processor() or "unknown")


def ram_gib(meminfo: str | None = None) -> float | None:
    if meminfo is None:
        try:
            meminfo = Path("/proc/meminfo").read_text()
        except OSError:
            return None
    match = re.search(r"^MemTotal:\s*(\d+)\s*kB", meminfo, re.MULTILINE)
    return int(match.group(1)) / 1024**2 if match else None


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def steal_percent(start: tuple[float, float], end: tuple[float, float]) -> float | None:
    """The share of the machine's CPU time between two `machine_steal_s()` readings that the host took back."""
    spent = end[1] - start[1]
    return 100 * (end[0] - start[0]) / spent if spent > 0 else None


@dataclass
class Machine:
    cores: int
    cpu: str
    ram_gib: float | None
    python: str
    airflow: str
    essentia: str
    date: str
    load_start: str
    load_end: str = ""
    cpu_start: tuple[float, float] = (0.0, 0.0)  # machine_steal_s() at the start
    steal_pct: float | None = None  # of the run's CPU time, set by finish()

    @classmethod
    def probe(cls) -> Machine:
        return cls(
            cores=os.cpu_count() or 1,
            cpu=cpu_model(),
            ram_gib=ram_gib(),
            python=platform.python_version(),
            airflow=_version("apache-airflow"),
            essentia=_version("essentia"),
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            load_start=load_average(),
            cpu_start=machine_steal_s(),
        )

    def finish(self) -> None:
        """Read the load average and the CPU steal at the end of the run."""
        self.load_end = load_average()
        self.steal_pct = steal_percent(self.cpu_start, machine_steal_s())

    def line(self) -> str:
        ram = f"{self.ram_gib:.1f} GiB RAM" if self.ram_gib else "RAM unknown"
        return (
            f"{self.cores} cores ({self.cpu}), {ram}; Python {self.python}, Airflow {self.airflow}, "
            f"Essentia {self.essentia}; {self.date}"
        )

    def load_line(self) -> str:
        end = f", at the end {self.load_end}" if self.load_end else ""
        steal = (
            f"; CPU steal {self.steal_pct:.1f} % of the run (the host ran other machines on these cores)"
            if self.steal_pct is not None
            else ""
        )
        return f"load average (1/5/15 min) at the start {self.load_start}{end} on {self.cores} cores{steal}"


# --- PERFORMANCE.md ----------------------------------------------------------------------------------

INTRO = """\
What the platform achieves on one machine, measured by `make bench` (`python -m load.bench`): each figure
next to its target and next to the physical limit — what Essentia alone can do on these cores, or what a
linear growth would give. The load tests (`make load`, Locust) measure request rates; this measures time
and throughput of single operations and DAG runs. Every run rewrites this file; the raw numbers of a run
are in `artifacts/bench/<time>/bench.json`.

Medians are of repeated runs where a run is cheap (the count is given); longer runs are measured once
and say so. The machine is shared: a load average above the core count means other work competed for
the CPU, and every figure bounded by Essentia is then pessimistic. On a virtual machine, CPU steal is the
time the host gave these cores to other machines: every figure of a run with steal is slower by more than
that share, as the processes wait for the CPU too.
"""


def render_markdown(sections: list[Section], machine: Machine, command: str, total_seconds: float) -> str:
    parts = [
        "# Performance",
        "",
        INTRO,
        "## This run",
        "",
        f"- command: `{command}` ({total_seconds / 60:.1f} min)",
        f"- machine: {machine.line()}",
        f"- {machine.load_line()}",
        "",
        "## Summary",
        "",
        markdown_table(sections),
        "",
        "ratio = measured / limit. MISS = the target is not met on this run (see the section for why).",
        "",
        TUNING_MD,
        PROFILE_MD,
    ]
    for number, section in enumerate(sections, 1):
        parts += [f"## {number}. {section.title}", ""]
        if section.error:
            parts += [f"**Did not complete:** {section.error}", ""]
        for f in section.figures:
            line = f"- **{f.name}**: {fmt(f.value, f.unit)}"
            if f.limit is not None:
                line += f" — limit {fmt(f.limit, f.unit)}" + (f" ({f.limit_label})" if f.limit_label else "")
                line += f", ratio {f.ratio:.2f}" if f.ratio is not None else ""
            if f.target:
                line += f" — target {f.target.describe(f.unit)}: **{f.status}**"
            if f.note:
                line += f". {f.note}"
            parts.append(line)
        if section.figures:
            parts.append("")
        if section.details:
            parts += [*section.details, ""]
        if section.method:
            parts += [f"**How it was measured.** {section.method}", ""]
        if section.limits:
            parts += [f"**What limits it.** {section.limits}", ""]
        parts.append(f"_(this benchmark took {section.seconds:.0f} s)_")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def write_markdown(path: Path, sections: list[Section], machine: Machine, command: str, total: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_markdown(sections, machine, command, total), encoding="utf-8")
    tmp.replace(path)
    return path


def to_json(sections: list[Section], machine: Machine, command: str) -> dict[str, Any]:
    return {
        "command": command,
        "machine": asdict(machine),
        "sections": [
            {
                "key": s.key,
                "title": s.title,
                "error": s.error,
                "seconds": s.seconds,
                "figures": [
                    {
                        **asdict(f),
                        "ratio": f.ratio,
                        "passed": f.passed,
                        "target": asdict(f.target) if f.target else None,
                    }
                    for f in s.figures
                ],
                "data": s.data,
            }
            for s in sections
        ],
    }
