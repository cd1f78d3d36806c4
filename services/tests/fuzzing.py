"""What the schemathesis fuzz test (test_fuzz_schemathesis.py) drives: the five apps on seeded data roots,
the schemathesis configuration, our own checks, and the count of generated cases per service.

Depth is an environment variable, so CI and `make fuzz` run the same test:

    HSS_FUZZ_EXAMPLES     cases hypothesis generates per operation in the fuzzing phase (default 40: the CI
                          subset); the examples and coverage phases add their own cases on top
    HSS_FUZZ_SCENARIOS    scenarios of the stateful workflow-ml-training test (default: HSS_FUZZ_EXAMPLES / 4)
    HSS_FUZZ_SEED         the seed (default fixed, so CI always sends the same cases); any integer explores anew
    HSS_FUZZ_TIMEOUT_S    per-request timeout (default 60): a request still running then fails the test, never hangs

The apps run with an API key (schemathesis sends it as the OpenAPI security scheme says, and also tries
without it), and their data roots hold real and broken files that a share of the generated requests names
(schemathesis dictionaries), so valid requests reach Essentia, the training worker and the data-root rules.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import is_unexpected_http_status_case

from contracts.catalog import SERVICES
from contracts.data_layout import DataLayout
from services.conftest import lay_out

FUZZ_EXAMPLES = int(os.environ.get("HSS_FUZZ_EXAMPLES", "40"))
FUZZ_SCENARIOS = int(os.environ.get("HSS_FUZZ_SCENARIOS", str(max(5, FUZZ_EXAMPLES // 4))))
FUZZ_SEED = int(os.environ.get("HSS_FUZZ_SEED", "20240611"))
REQUEST_TIMEOUT_S = float(os.environ.get("HSS_FUZZ_TIMEOUT_S", "60"))
API_KEY = "fuzz-api-key"  # the apps' HSS_API_KEY; schemathesis authenticates with it (and tests without it)
SIGNING_KEY = SecretStr("fuzz-model-signing-key")  # HSS_MODEL_SIGNING_KEY of workflow-ml-training and -prediction

# One folder per pytest-xdist worker (gw0, gw1…): each worker collects this module and seeds its own roots.
FUZZ_ROOT = Path(__file__).resolve().parent / ".fuzz-data" / os.environ.get("PYTEST_XDIST_WORKER", "main")
DEMO_DATASET = "training_data/features/demo_features.csv"  # TrainingRequest's documented example
# What a share of the generated requests names (the seeded data roots hold them): good, broken, outside.
AUDIO_FILES = (
    *(
        f"songs/{name}"
        for name in (
            "demo_song.mp3",  # AudioAnalysisRequest's documented example
            "short.wav",
            "empty.mp3",
            "lyrics.mp3",
            "noise.wav",
            "truncated.mp3",
            "blip.wav",
            "silence.wav",
            "notes.txt",
            "folder.wav",
            "escape.wav",
        )
    ),
    "songs",
    "songs/../../etc/passwd",
)
DATASETS = (
    DEMO_DATASET,
    *(
        f"training_data/{name}"
        for name in (
            "one_class.csv",
            "no_label.csv",
            "too_few.csv",
            "empty.csv",
            "notes.txt",
            "folder.csv",
            "escape.csv",
        )
    ),
    "training_data",
    "../outside.csv",
)

# Cases run per service, and per (service, phase, generation mode): printed at the end of the session
# (services/tests/conftest.py) so "N cases per service" can be quoted.
CASES: Counter[str] = Counter()
CASES_BY_KIND: Counter[tuple[str, str, str]] = Counter()


def count(service: str, case: Any, phase: str | None = None) -> None:
    meta = case.meta
    CASES[service] += 1
    CASES_BY_KIND[
        (service, phase or (meta.phase.name.value if meta else "?"), meta.generation.mode.value if meta else "?")
    ] += 1


def summary_lines() -> list[str]:
    lines = [
        f"HSS_FUZZ_EXAMPLES={FUZZ_EXAMPLES} HSS_FUZZ_SCENARIOS={FUZZ_SCENARIOS} HSS_FUZZ_SEED={FUZZ_SEED}",
    ]
    for spec in SERVICES:
        if not CASES[spec.name]:
            continue
        kinds = sorted((k[1], k[2], n) for k, n in CASES_BY_KIND.items() if k[0] == spec.name)
        detail = ", ".join(f"{phase}/{mode} {n}" for phase, mode, n in kinds)
        lines.append(f"{spec.name:24} {CASES[spec.name]:6} cases  ({detail})")
    lines.append(f"{'total':24} {sum(CASES.values()):6} cases")
    return lines


# --- seeded data roots -----------------------------------------------------------------------------


def _fresh_root(name: str) -> Path:
    root = FUZZ_ROOT / name
    shutil.rmtree(root, ignore_errors=True)
    return lay_out(root)


def _outside_link(root: Path, name: str) -> None:
    """A symlink inside the data root that points out of it (refused with 403 path_outside_data_root)."""
    outside = root.parent / f"{root.name}-outside.bin"
    outside.write_bytes(b"RIFF")
    (root / name).symlink_to(outside)


def _seed_audio(root: Path) -> list[str]:
    from fixtures.audio import synth_song, write_empty, write_garbage, write_not_audio, write_samples, write_truncated

    songs = DataLayout(root).songs
    synth_song(songs / "demo_song.mp3", seconds=6.0)  # AudioAnalysisRequest's documented example
    synth_song(songs / "short.wav", seconds=3.0, bpm=100.0, tonic="A", scale="minor", seed=1)
    write_empty(songs / "empty.mp3")
    write_not_audio(songs / "lyrics.mp3")
    write_garbage(songs / "noise.wav")
    write_truncated(songs / "demo_song.mp3", songs / "truncated.mp3", keep_bytes=4096)
    synth_song(songs / "blip.wav", seconds=0.5)
    write_samples(songs / "silence.wav", np.zeros(44100, dtype=np.float32))
    (songs / "notes.txt").write_text("not a song")
    (songs / "folder.wav").mkdir()
    _outside_link(root, "songs/escape.wav")
    return [*AUDIO_FILES, str(songs / "short.wav")]  # and the one absolute path inside the root


def _seed_training(root: Path) -> list[str]:
    """The demo dataset (small: a training takes a second or two) and datasets training must refuse."""
    from fixtures.datasets import (
        make_empty_dataset,
        make_features_dataset,
        make_missing_label_dataset,
        make_one_class_dataset,
        make_too_few_rows_dataset,
    )

    data = DataLayout(root).training_data
    make_features_dataset(root / DEMO_DATASET, n_rows=60, seed=3)
    make_one_class_dataset(data / "one_class.csv")
    make_missing_label_dataset(data / "no_label.csv")
    make_too_few_rows_dataset(data / "too_few.csv")
    make_empty_dataset(data / "empty.csv")
    (data / "notes.txt").write_text("not a dataset")
    (data / "folder.csv").mkdir()
    _outside_link(root, "training_data/escape.csv")
    return list(DATASETS)


# --- the apps --------------------------------------------------------------------------------------


def build(spec_name: str, root: Path) -> Any:
    """The app of one service with an API key on `root` (small pools: this runs on 2 cores)."""
    key = SecretStr(API_KEY)
    if spec_name == "workflow-audio":
        from services.audio.app import build_app
        from services.audio.settings import AudioSettings

        return build_app(AudioSettings(data_root=root, pool_size=1, timeout_s=30, api_key=key))
    if spec_name == "workflow-content":
        from services.content.app import build_app
        from services.content.settings import ContentSettings

        return build_app(ContentSettings(api_key=key))
    if spec_name == "workflow-ml-training":
        from services.ml_training.app import build_app
        from services.ml_training.settings import TrainingSettings

        return build_app(TrainingSettings(data_root=root, api_key=key, model_signing_key=SIGNING_KEY))
    if spec_name == "workflow-ml-prediction":
        from services.ml_prediction.app import build_app
        from services.ml_prediction.settings import PredictionSettings

        return build_app(PredictionSettings(data_root=root, api_key=key, model_signing_key=SIGNING_KEY))
    if spec_name == "workflow-intelligence":
        from services.common.settings import ServiceSettings
        from services.intelligence.app import build_app

        return build_app(ServiceSettings(api_key=key))
    raise KeyError(spec_name)


def fuzz_config(dictionaries: dict[str, tuple[str, list[str]]] | None = None) -> SchemathesisConfig:
    """Schemathesis' configuration: every default check, both generation modes, auth, seed, timeout.

    `dictionaries` maps a body field to (name, values): that share of the generated requests names them.
    """
    dictionaries = dictionaries or {}
    return SchemathesisConfig.from_dict(
        {
            "seed": FUZZ_SEED,
            "request-timeout": REQUEST_TIMEOUT_S,
            "auth": {"openapi": {"APIKeyHeader": {"api_key": API_KEY}}},
            "generation": {"mode": "all", "database": "none"},
            "checks": {
                # A valid request may still break a documented business rule (song_id_mismatch,
                # too_many_missing_features, not_a_csv...): 422 is acceptable for positive data, but
                # `valid_data_passes_validation` refuses a 422 `validation_error` for it, and
                # `error_code_is_documented` refuses a code the status does not document.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "413", "422", "429"]
                },
            },
            "dictionaries": {name: {"values": values} for name, values in dictionaries.values()},
            "parameters": {
                f"body.{field}": {"dictionary": name, "probability": 0.15} for field, (name, _) in dictionaries.items()
            },
        }
    )


def schema_for(spec_name: str, root_name: str | None = None) -> Any:
    """Schemathesis' view of one service: its app on a fresh, seeded data root, the probes left out."""
    import schemathesis

    root = _fresh_root(root_name or spec_name)
    dictionaries: dict[str, tuple[str, list[str]]] = {}
    if spec_name == "workflow-audio":
        dictionaries["song_path"] = ("audio_files", _seed_audio(root))
    elif spec_name == "workflow-ml-training":
        dictionaries["dataset_path"] = ("datasets", _seed_training(root))
    app = build(spec_name, root)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=fuzz_config(dictionaries))
    # The probes take no input; /ready is *meant* to answer 503 while the audio workers warm up.
    return schema.exclude(path=["/health", "/ready"])


# --- our checks (schemathesis check signature: ctx, response, case) ---------------------------------


def _error_code(response: Any) -> str | None:
    try:
        body = json.loads(response.content)
        code = body["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None  # not the envelope: response_schema_conformance reports that
    return code if isinstance(code, str) else None


def error_code_is_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer's `error.code` is named, in backticks, by the description of its status in the
    operation's OpenAPI `responses`: a business rule (409 `job_active`, 422 `song_id_mismatch`, ...) is part
    of the contract, not a surprise."""
    if response.status_code < 400 or is_unexpected_http_status_case(case):
        return None
    if response.request.method.upper() != case.method.upper():
        return None  # an unsupported-method probe: the route documents only its own method
    documented = case.operation.definition.raw.get("responses", {}).get(str(response.status_code))
    code = _error_code(response)
    if documented is None or code is None:
        return None  # an undocumented status or a foreign body: status_code_conformance / response_schema_conformance
    if f"`{code}`" not in documented.get("description", ""):
        raise AssertionError(
            f"{case.operation.label} answered {response.status_code} with error.code {code!r}, which the "
            f"OpenAPI description of {response.status_code} does not name: {documented.get('description')!r}"
        )
    return True


def valid_data_passes_validation(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request schemathesis generated from the schema is never refused as schema-invalid (422
    `validation_error`): the schema and the validation behind it agree."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or is_unexpected_http_status_case(case):
        return None
    if response.status_code == 422 and _error_code(response) == "validation_error":
        raise AssertionError(
            f"{case.operation.label}: a request valid per the OpenAPI schema was refused as invalid: "
            f"{response.content[:500]!r}"
        )
    return True


EXTRA_CHECKS = [error_code_is_documented, valid_data_passes_validation]


def wait_for_job(root: Path, job_id: str, timeout_s: float = 60.0) -> None:
    """Block until the training job has finished (or `timeout_s`): linked steps then see its final state."""
    from services.ml_training.jobs import JobStore

    store = JobStore(root)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = store.read(job_id)
        if job is None or job.status.finished:
            return
        time.sleep(0.05)
