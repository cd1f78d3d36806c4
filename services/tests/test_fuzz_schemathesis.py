"""Contract fuzzing: schemathesis drives every operation of every app in-process, with valid and invalid input.

Whatever it generates, a service must never answer 5xx; every response must conform to the OpenAPI schema
(status code documented, body matching its model, the error envelope for 4xx); a request that violates the
schema must be refused (negative_data_rejection) and one that fits it must be accepted
(positive_data_acceptance), unless it breaks a business rule the route documents with its error code.
The checks are schemathesis' default set plus the two of services/tests/fuzzing.py; both generation modes
(positive and negative) run in the examples, coverage and fuzzing phases.

Depth: HSS_FUZZ_EXAMPLES cases per operation (default 40, the fixed-seed CI subset; `make fuzz` runs
it deep). The stateful test walks workflow-ml-training's OpenAPI links: start a training, poll the job,
promote it, read the served model. The cases per service are printed at the end of the session.
"""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, Phase, settings

from contracts.catalog import MODEL_PROMOTE, SERVICES, TRAINING_JOB, TRAINING_START
from contracts.data_layout import DataLayout
from services.tests import fuzzing
from services.tests.fuzzing import (
    EXTRA_CHECKS,
    FUZZ_EXAMPLES,
    FUZZ_SCENARIOS,
    count,
    schema_for,
    wait_for_job,
)


def _fuzz(spec_name: str):
    schema = schema_for(spec_name)

    @schema.parametrize()
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def test(case) -> None:
        count(spec_name, case)
        case.call_and_validate(additional_checks=EXTRA_CHECKS)

    return test


test_audio_fuzz = _fuzz("workflow-audio")
test_content_fuzz = _fuzz("workflow-content")
test_training_fuzz = _fuzz("workflow-ml-training")
test_prediction_fuzz = _fuzz("workflow-ml-prediction")
test_intelligence_fuzz = _fuzz("workflow-intelligence")


# --- stateful: workflow-ml-training's links ---------------------------------------------------------

training_schema = schema_for("workflow-ml-training", "workflow-ml-training-stateful")
STATEFUL_ROOT = fuzzing.FUZZ_ROOT / "workflow-ml-training-stateful"


class TrainingWorkflow(training_schema.as_state_machine()):
    """Scenarios along the links: POST /train/smart_ensemble → GET /train/jobs/{job_id} → POST
    /models/promote → GET /models/current (and back to the promoted job, and resubmitting it).

    A valid training request trains the demo dataset with 2 folds (a second or two), and the scenario
    waits until the job has finished, so the steps after it meet a succeeded (or failed) job, not only a
    queued one."""

    def setup(self) -> None:
        # Each scenario starts with no job and no promotion: scenarios stay independent, so hypothesis can
        # replay and shrink one (the job store and latest.json live in models/).
        models = DataLayout(STATEFUL_ROOT).models
        shutil.rmtree(models)
        models.mkdir()

    def before_call(self, case) -> None:
        positive = case.meta is not None and case.meta.generation.mode.is_positive
        if positive and case.operation.label == str(TRAINING_START) and isinstance(case.body, dict):
            if case.body.get("dataset_path") not in fuzzing.DATASETS:
                case.body["dataset_path"] = fuzzing.DEMO_DATASET
            case.body["cv_folds"] = 2

    def after_call(self, response, case) -> None:
        super().after_call(response, case)
        count("workflow-ml-training", case, phase="stateful")
        if case.operation.label == str(TRAINING_START) and response.status_code == TRAINING_START.status:
            wait_for_job(STATEFUL_ROOT, response.json()["job_id"])

    def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
        super().validate_response(response, case, additional_checks=[*(additional_checks or []), *EXTRA_CHECKS])


def test_training_stateful() -> None:
    TrainingWorkflow.run(
        settings=settings(
            max_examples=FUZZ_SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
            derandomize=True,
            database=None,
        )
    )


def test_the_training_links_are_in_the_openapi() -> None:
    """The stateful test walks these links; without them it would fuzz each operation alone."""
    links = {
        (f"{method.upper()} {path}", name)
        for path, operations in training_schema.raw_schema["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status.startswith("2")
        for name in response.get("links", {})
    }
    assert {
        (str(TRAINING_START), "GetTrainingJob"),
        (str(TRAINING_START), "PromoteTraining"),
        (str(TRAINING_JOB), "PromoteTraining"),
        (str(MODEL_PROMOTE), "GetServingModel"),
    } <= links


def test_an_error_code_its_status_does_not_document_fails_the_fuzz() -> None:
    import schemathesis
    from fastapi import APIRouter

    from services.common.app_factory import create_app, error_responses
    from services.common.errors import Conflict
    from services.common.settings import ServiceSettings

    router = APIRouter()

    @router.post("/probe/{which}", responses=error_responses({409: "`documented`: a rule the route names."}))
    def probe(which: str) -> dict:
        raise Conflict("a rule", code=which)

    settings = ServiceSettings(api_key=None, allow_no_api_key=True)  # the probe is called without a key
    app = create_app(name="probe", version="0", description="", routers=[router], settings=settings)
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)["/probe/{which}"]["POST"]
    for which, documented in (("documented", True), ("surprise", False)):
        case = operation.Case(path_parameters={"which": which})
        response = case.call()
        assert response.status_code == 409
        if documented:
            assert fuzzing.error_code_is_documented(None, response, case)
        else:
            with pytest.raises(AssertionError, match="surprise"):
                fuzzing.error_code_is_documented(None, response, case)


def test_every_service_is_fuzzed() -> None:
    fuzzed = {
        "workflow-audio",
        "workflow-content",
        "workflow-ml-training",
        "workflow-ml-prediction",
        "workflow-intelligence",
    }
    assert fuzzed == {s.name for s in SERVICES}


@pytest.fixture(autouse=True, scope="session")
def _fuzz_root_cleanup():
    yield
    shutil.rmtree(fuzzing.FUZZ_ROOT, ignore_errors=True)
