"""workflow-ml-prediction routes. Logic lives in model_store.py, predictor.py and baseline.py."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request

from contracts.catalog import PREDICT_SINGLE
from contracts.prediction import PredictionRequest, PredictionResponse
from services.common.app_factory import create_app, error_responses, lazy_app, settings_of
from services.common.model_artifacts import preload_estimator_modules
from services.common.model_signing import signing_key
from services.ml_prediction.metrics import ModelInfoCollector
from services.ml_prediction.model_store import ModelStore
from services.ml_prediction.predictor import predict
from services.ml_prediction.settings import PredictionSettings

SERVICE_NAME = "workflow-ml-prediction"
VERSION = "0.1.0"

router = APIRouter(tags=["prediction"])


@router.post(
    PREDICT_SINGLE.path,
    response_model=PREDICT_SINGLE.response,
    summary="Hit probability of one song, with explanations",
    description=(
        "Scores `audio_features` plus `content_features` with the model promoted last (`models/latest.json`, "
        "see workflow-ml-training `POST /models/promote`), or the pinned `model_version`, which must be the "
        "baseline or a model that is or was promoted; before any promotion, the documented baseline "
        "`baseline-v1` answers. Features the model needs "
        "but the request lacks are imputed with the training median and listed in `missing_features`; more than "
        "half missing is refused. Each explanation is P(song) - P(song with that feature at its training median), "
        "largest |contribution| first. A model is unpickled only after its signature (HSS_MODEL_SIGNING_KEY) "
        "verified."
    ),
    responses=error_responses(
        {
            404: "`unknown_model_version`: the pinned model_version does not exist.",
            409: "`model_not_promoted`: the pinned model_version was trained but never promoted.",
            422: "`validation_error` (the request does not match the schema), `too_many_missing_features` (more "
            "than half of the model's features absent), or `feature_name_collision` (a feature name in both maps).",
            503: "`model_unavailable` (latest.json is unreadable or inconsistent, names an artifact other than "
            "models/<training_id>/model.joblib, a model without its promotion record, or one that cannot be "
            "loaded) or `model_signature_invalid` (the model's file is not signed by this deployment's "
            "HSS_MODEL_SIGNING_KEY: written before models were signed, with another key, or changed since; it "
            "is never unpickled: retrain it with force=true and promote it again).",
        }
    ),
)
def predict_single(body: PredictionRequest, request: Request) -> PredictionResponse:
    settings: PredictionSettings = settings_of(request.app)  # type: ignore[assignment]
    model = request.app.state.models.get(body.model_version)
    return predict(model, body, top_k=settings.explanations_top_k, max_missing_fraction=settings.max_missing_fraction)


def build_app(settings: PredictionSettings | None = None) -> FastAPI:
    settings = settings or PredictionSettings()
    key = signing_key(settings)  # no key, no start: every model load verifies its signature with it
    store = ModelStore(settings.resolved_data_root(), signing_key=key, cache_size=settings.model_cache_size)
    preload_estimator_modules()  # before /ready: the first prediction of a trained model then loads in ~20 ms, not ~1 s

    def ready_checks(_app: FastAPI) -> dict[str, bool]:
        return store.ready_checks()

    app = create_app(
        name=SERVICE_NAME,
        version=VERSION,
        description=(
            "Predicts the hit probability of a song from its audio and lyrics features with the promoted smart "
            "ensemble (or a documented baseline before any promotion), and explains the prediction."
        ),
        routers=[router],
        settings=settings,
        ready_checks=ready_checks,
    )
    app.state.models = store
    app.state.metrics_registry.register(ModelInfoCollector(store))  # hss_model_info at /metrics
    return app


# `app` (uvicorn's services.ml_prediction.app:app) is built on first access: a start without HSS_API_KEY fails there.
__getattr__ = lazy_app(build_app)
