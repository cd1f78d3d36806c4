"""workflow-ml-prediction routes. Logic lives in model_store.py, predictor.py and baseline.py."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request

from contracts.catalog import PREDICT_SINGLE
from contracts.prediction import PredictionRequest, PredictionResponse
from services.common.app_factory import create_app, error_responses, settings_of
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
        "largest |contribution| first."
    ),
    responses=error_responses(
        {
            404: "`unknown_model_version`: the pinned model_version does not exist.",
            409: "`model_not_promoted`: the pinned model_version was trained but never promoted.",
            422: "`validation_error` (the request does not match the schema), `too_many_missing_features` (more "
            "than half of the model's features absent), or `feature_name_collision` (a feature name in both maps).",
            503: "`model_unavailable`: latest.json is unreadable or names a model that cannot be loaded.",
        }
    ),
)
def predict_single(body: PredictionRequest, request: Request) -> PredictionResponse:
    settings: PredictionSettings = settings_of(request.app)  # type: ignore[assignment]
    model = request.app.state.models.get(body.model_version)
    return predict(model, body, top_k=settings.explanations_top_k, max_missing_fraction=settings.max_missing_fraction)


def build_app(settings: PredictionSettings | None = None) -> FastAPI:
    settings = settings or PredictionSettings()
    store = ModelStore(settings.resolved_data_root(), cache_size=settings.model_cache_size)

    def ready_checks(_app: FastAPI) -> dict[str, bool]:
        return {"model_loadable": store.ready()}

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
    return app


app = build_app()
