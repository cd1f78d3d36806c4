"""The service imports what a trained model's pickle needs when it starts, not at the first prediction.

In a fresh interpreter (this test process has scikit-learn loaded already): build the app, then predict with a
really trained, promoted model, and list the modules that prediction imported. Without the preload the first
prediction after a training imports scikit-learn (about 1 s on 2 cores, measured in the demo's hit_prediction).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from services.common.model_artifacts import ESTIMATOR_MODULES

PROBE = """
import json, sys
from pathlib import Path

def heavy():
    return {m for m in sys.modules if m.split(".")[0] in ("sklearn", "scipy")}

at_start = heavy()
from contracts.catalog import PREDICT_SINGLE
from services.conftest import TEST_API_KEY, TEST_SIGNING_KEY, keyed_client
from services.ml_prediction.app import build_app
from services.ml_prediction.settings import PredictionSettings

before_build = heavy()
settings = PredictionSettings(data_root=Path(sys.argv[1]), api_key=TEST_API_KEY, model_signing_key=TEST_SIGNING_KEY)
client = keyed_client(build_app(settings))
after_build = heavy()
body = json.loads(sys.argv[2])
response = client.post(PREDICT_SINGLE.path, json=body)
print(json.dumps({
    "status": response.status_code,
    "model_version": response.json().get("model_version"),
    "before_build": sorted(before_build | at_start),
    "preloaded": len(after_build - before_build),
    "imported_by_the_prediction": sorted(heavy() - after_build),
}))
"""


def test_the_first_prediction_of_a_trained_model_imports_no_scikit_learn_module(trained_root, song) -> None:
    root, version = trained_root
    audio, content = song()
    body = {"song_id": "warm", "audio_features": audio, "content_features": content}
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), json.dumps(body)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["status"] == 200 and seen["model_version"] == version, seen
    assert seen["before_build"] == [], seen  # nothing imported scikit-learn before the app: the probe is meaningful
    assert seen["imported_by_the_prediction"] == [], (
        f"the first prediction imported {seen['imported_by_the_prediction'][:10]}…: "
        f"add their packages to ESTIMATOR_MODULES {ESTIMATOR_MODULES}"
    )
    assert seen["preloaded"] > 0, seen
