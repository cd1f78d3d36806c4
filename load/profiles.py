"""Load profiles (load/profiles.toml) and the pass/fail judgement of a run against their thresholds.

A profile names how many users, how fast they spawn, for how long, which user classes, and the
thresholds: `max_failure_ratio` (every request row and the aggregate) and `p95_ms` per request name.
The judgement also fails a run in which a selected user class sent nothing: a load test that did
not load a service must not pass.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from load.report import RequestStats
from load.targets import AGGREGATED, USER_CLASSES, request_owner

PROFILES_FILE = Path(__file__).with_name("profiles.toml")
_KEYS = {
    "description",
    "users",
    "spawn_rate",
    "run_time",
    "user_classes",
    "max_failure_ratio",
    "p95_ms",
    "wait_time_s",
    "throughput_per_user",
}
_RUN_TIME = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class ProfileError(ValueError):
    """A profile that does not exist or does not make sense; the message says which and why."""


def parse_run_time(text: str) -> int:
    """Locust's run-time syntax ("30s", "1m30s", "2h", or plain seconds) → seconds."""
    text = str(text).strip()
    if text.isdigit():
        seconds = int(text)
    else:
        match = _RUN_TIME.match(text)
        if not text or not match:
            raise ProfileError(f"run_time {text!r}: use Locust's form, e.g. '30s', '1m30s', '2h'")
        hours, minutes, secs = (int(g or 0) for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise ProfileError(f"run_time {text!r} must be longer than 0 s")
    return seconds


@dataclass(frozen=True)
class Profile:
    name: str
    users: int
    spawn_rate: float
    run_time: str
    user_classes: tuple[str, ...]
    max_failure_ratio: float
    p95_ms: dict[str, float] = field(default_factory=dict)
    wait_time_s: tuple[float, float] | None = None  # overrides every service user's wait (not AirflowUser's)
    # Or a fixed pace: each service user sends this many requests/s (Locust's constant_throughput), so the
    # offered load is users x throughput whatever the latency — what a "N req/s with p95 <= X" target needs.
    throughput_per_user: float | None = None
    description: str = ""

    @property
    def run_seconds(self) -> int:
        return parse_run_time(self.run_time)

    def __post_init__(self) -> None:
        where = f"profile {self.name!r}"
        if not isinstance(self.users, int) or self.users < 1:
            raise ProfileError(f"{where}: users must be a whole number >= 1, not {self.users!r}")
        if not isinstance(self.spawn_rate, int | float) or self.spawn_rate <= 0:
            raise ProfileError(f"{where}: spawn_rate must be > 0, not {self.spawn_rate!r}")
        self.run_seconds  # noqa: B018 — validates run_time
        unknown = [c for c in self.user_classes if c not in USER_CLASSES]
        if not self.user_classes or unknown:
            raise ProfileError(
                f"{where}: unknown or no user classes {unknown or '[]'}; known: {', '.join(USER_CLASSES)}"
            )
        if self.users < len(self.user_classes):
            raise ProfileError(f"{where}: {self.users} users cannot run {len(self.user_classes)} user classes")
        if not 0 <= self.max_failure_ratio <= 1:
            raise ProfileError(f"{where}: max_failure_ratio must be within 0..1, not {self.max_failure_ratio!r}")
        known = {n for spec in USER_CLASSES.values() for n in spec.requests} | {AGGREGATED}
        for name, limit in self.p95_ms.items():
            if name not in known:
                raise ProfileError(f"{where}: p95_ms names unknown request {name!r}; known: {', '.join(sorted(known))}")
            if not isinstance(limit, int | float) or limit <= 0:
                raise ProfileError(f"{where}: p95_ms[{name!r}] must be a number of ms > 0, not {limit!r}")
        if self.wait_time_s is not None and not (
            len(self.wait_time_s) == 2 and 0 <= self.wait_time_s[0] <= self.wait_time_s[1]
        ):
            raise ProfileError(f"{where}: wait_time_s must be [min, max] seconds with 0 <= min <= max")
        if self.throughput_per_user is not None:
            if self.wait_time_s is not None:
                raise ProfileError(f"{where}: give wait_time_s or throughput_per_user, not both")
            if not isinstance(self.throughput_per_user, int | float) or self.throughput_per_user <= 0:
                raise ProfileError(f"{where}: throughput_per_user must be requests/s > 0")

    def with_overrides(
        self, *, users: int | None = None, run_time: str | None = None, user_classes: list[str] | None = None
    ) -> Profile:
        """The same thresholds with other users / run time / classes (validated again)."""
        changes: dict = {}
        if users is not None:
            changes["users"] = users
        if run_time is not None:
            changes["run_time"] = run_time
        if user_classes is not None:
            changes["user_classes"] = tuple(user_classes)
        return dataclasses.replace(self, **changes)


def profile_from_dict(name: str, raw: dict) -> Profile:
    unknown = set(raw) - _KEYS
    missing = {"users", "spawn_rate", "run_time", "user_classes", "max_failure_ratio"} - set(raw)
    if unknown or missing:
        raise ProfileError(f"profile {name!r}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    wait = raw.get("wait_time_s")
    return Profile(
        name=name,
        users=raw["users"],
        spawn_rate=raw["spawn_rate"],
        run_time=str(raw["run_time"]),
        user_classes=tuple(raw["user_classes"]),
        max_failure_ratio=float(raw["max_failure_ratio"]),
        p95_ms=dict(raw.get("p95_ms", {})),
        wait_time_s=tuple(wait) if wait is not None else None,
        throughput_per_user=raw.get("throughput_per_user"),
        description=raw.get("description", ""),
    )


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read profiles from {path}: {exc}") from None
    return {name: profile_from_dict(name, table) for name, table in raw.items()}


def get_profile(name: str, path: Path = PROFILES_FILE) -> Profile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise ProfileError(f"unknown profile {name!r}; {path.name} defines: {', '.join(profiles)}")
    return profiles[name]


# ---- judgement -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdResult:
    check: str
    actual: str
    limit: str
    passed: bool

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.check}: {self.actual} (limit {self.limit})"


def evaluate(profile: Profile, stats: dict[str, RequestStats]) -> list[ThresholdResult]:
    """Every threshold of `profile` that applies to the classes it ran, judged on `stats`."""
    results = []
    for class_name in profile.user_classes:
        sent = sum(stats[n].requests for n in USER_CLASSES[class_name].requests if n in stats)
        results.append(ThresholdResult(f"requests sent by {class_name}", str(sent), "> 0", sent > 0))
    for name, entry in stats.items():
        results.append(
            ThresholdResult(
                f"failure ratio of {entry.type} {name}".replace("  ", " "),
                f"{entry.failure_ratio:.2%} ({entry.failures}/{entry.requests})",
                f"{profile.max_failure_ratio:.2%}",
                entry.failure_ratio <= profile.max_failure_ratio,
            )
        )
    for name, limit in profile.p95_ms.items():
        owner = request_owner(name)
        if owner is not None and owner not in profile.user_classes:
            continue  # its user class did not run
        entry = stats.get(name)
        if entry is None or entry.requests == 0:
            results.append(ThresholdResult(f"p95 of {name}", "no requests", f"{limit:.0f} ms", False))
        else:
            results.append(
                ThresholdResult(f"p95 of {name}", f"{entry.p95_ms:.0f} ms", f"{limit:.0f} ms", entry.p95_ms <= limit)
            )
    return results
