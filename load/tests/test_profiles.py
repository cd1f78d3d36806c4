"""profiles.toml parses into valid profiles, and a wrong profile or override is refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.catalog import LYRICS_ANALYZE
from load.profiles import ProfileError, get_profile, load_profiles, parse_run_time, profile_from_dict
from load.targets import USER_CLASSES

VALID = {
    "users": 4,
    "spawn_rate": 2,
    "run_time": "10s",
    "user_classes": ["ContentUser"],
    "max_failure_ratio": 0.01,
    "p95_ms": {LYRICS_ANALYZE.path: 500},
}


def test_shipped_profiles_include_what_make_and_the_benchmark_use() -> None:
    profiles = load_profiles()
    assert {"default", "smoke", "services-50"} <= set(profiles)
    assert set(profiles["default"].user_classes) == set(USER_CLASSES)
    smoke = profiles["smoke"]
    assert set(smoke.user_classes) == set(USER_CLASSES) and smoke.run_seconds <= 30
    assert smoke.p95_ms and smoke.max_failure_ratio < 1
    assert profiles["services-50"].users == 50 and len(profiles["services-50"].user_classes) == 1


def test_unknown_profile_names_the_ones_that_exist() -> None:
    with pytest.raises(ProfileError, match=r"unknown profile 'nope'.*default.*smoke.*services-50"):
        get_profile("nope")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user_classes": ["MysteryUser"]}, "unknown or no user classes"),
        ({"user_classes": []}, "unknown or no user classes"),
        ({"users": 0}, "users must be"),
        ({"users": 1, "user_classes": ["ContentUser", "PredictionUser"]}, "cannot run 2 user classes"),
        ({"spawn_rate": 0}, "spawn_rate must be"),
        ({"run_time": "soon"}, "run_time 'soon'"),
        ({"max_failure_ratio": 1.5}, "max_failure_ratio"),
        ({"p95_ms": {"/analyse/lyrics": 500}}, "unknown request '/analyse/lyrics'"),
        ({"p95_ms": {LYRICS_ANALYZE.path: -1}}, "must be a number of ms"),
        ({"wait_time_s": [2, 1]}, "wait_time_s"),
        ({"colour": "blue"}, "unknown keys \\['colour'\\]"),
    ],
)
def test_a_profile_that_makes_no_sense_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        profile_from_dict("broken", {**VALID, **change})


def test_missing_keys_are_named() -> None:
    raw = dict(VALID)
    del raw["users"]
    with pytest.raises(ProfileError, match=r"missing keys \['users'\]"):
        profile_from_dict("short", raw)


def test_an_unreadable_profiles_file_says_which_file(tmp_path: Path) -> None:
    bad = tmp_path / "profiles.toml"
    bad.write_text("[smoke\nusers = 1\n")
    with pytest.raises(ProfileError, match=r"cannot read profiles from .*profiles\.toml"):
        load_profiles(bad)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1m30s", 90), ("2h", 7200), ("45", 45)])
def test_run_time_takes_locusts_syntax(text: str, seconds: int) -> None:
    assert parse_run_time(text) == seconds


def test_overrides_keep_the_thresholds_and_are_validated_again() -> None:
    base = get_profile("services-50")
    chosen = base.with_overrides(users=10, run_time="15s", user_classes=["InsightsUser"])
    assert (chosen.users, chosen.run_seconds, chosen.user_classes) == (10, 15, ("InsightsUser",))
    assert chosen.p95_ms == base.p95_ms and chosen.max_failure_ratio == base.max_failure_ratio
    with pytest.raises(ProfileError, match="unknown or no user classes"):
        base.with_overrides(user_classes=["Nobody"])
