"""The result pages in a real browser: Debian's Chromium driven by Playwright (no browser download), on the
full stack of either backend. A presenter logs in to the Airflow UI, follows the nav entry "Song analyses",
opens the song of a run this test just made and finds its probability as the result file gives it, opens
a training run, then the Operations page with its charts from Prometheus. Screenshots go to artifacts/ui/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from contracts.data_layout import TRAINING_DATA, DataLayout
from e2e.tests.full_stack.conftest import SONG_PATH
from e2e.tests.full_stack.helpers import result_document, run_to_end
from fixtures.datasets import make_features_dataset
from stack.base import Stack
from stack.client import AirflowClient
from stack.paths import ARTIFACTS

pytestmark = pytest.mark.both_backends  # CI's docker pass runs these again

SHOTS = ARTIFACTS / "ui"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless on a closed network: no sandbox as root, and none of Chromium's own background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_SONG = "e2e_ui_song"
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def page():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make system-deps` installs Debian's chromium")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(30_000)
        yield context.new_page()
        browser.close()


def log_in(page: Page, client: AirflowClient, url: str) -> None:
    page.goto(url)
    page.wait_for_url("**/auth/login**")  # the pages are behind the UI's login
    page.fill("input[name=username]", client.username)
    page.fill("input[name=password]", client.password)
    page.click("button[type=submit]")


def test_a_presenter_finds_a_runs_result_and_a_training_through_the_ui(
    page: Page, client: AirflowClient, stack: Stack
) -> None:
    run_id = run_to_end(client, "comprehensive_analysis", {"song_id": UI_SONG, "song_path": SONG_PATH})
    document = result_document(stack.data_root, client.xcom("comprehensive_analysis", run_id, "aggregate_results"))
    expected = f"{document['prediction']['hit_probability']:.1%}"
    training_id = f"e2e_ui_{int(time.time())}"
    make_features_dataset(DataLayout(stack.data_root).training_data / f"{training_id}.csv", n_rows=120, seed=5).chmod(
        0o666
    )
    conf = {"dataset_path": f"{TRAINING_DATA}/{training_id}.csv", "training_id": training_id, "promotion": "never"}
    training_run = run_to_end(client, "ml_training_smart_ensemble", conf)
    auc = client.xcom("ml_training_smart_ensemble", training_run, "aggregate_results")["ensemble_auc"]

    # Not logged in: the login page, then back to the page asked for, with the UI's own session.
    log_in(page, client, f"{stack.airflow_url}/hss/songs")
    page.wait_for_url("**/hss/songs**")
    expect(page.get_by_role("heading", name="Song analyses")).to_be_visible()

    # The UI's nav entry opens the pages inside the UI.
    page.goto(f"{stack.airflow_url}/")
    page.get_by_role("link", name="Song analyses").first.click()
    page.wait_for_url("**/plugin/song-analyses**")
    frame = page.frame_locator("iframe")
    expect(frame.get_by_role("link", name=UI_SONG, exact=True)).to_be_visible()
    page.screenshot(path=SHOTS / "songs.png")

    frame.get_by_role("link", name=UI_SONG, exact=True).click()
    expect(frame.locator("#hit-probability")).to_have_text(expected)  # as the result file gives it
    expect(frame.locator("svg.chart").first).to_be_visible()
    page.screenshot(path=SHOTS / "song.png")

    frame.get_by_role("link", name="Training runs").click()
    frame.get_by_role("link", name=training_id, exact=True).click()
    expect(frame.locator("#ensemble-auc")).to_have_text(f"{auc:.3f}")
    expect(frame.get_by_text("Not promoted")).to_be_visible()  # promotion=never
    page.screenshot(path=SHOTS / "training.png")

    # The Operations page charts what Prometheus has of the runs above and of the services' requests.
    page.goto(f"{stack.airflow_url}/hss/operations?window=15m")
    expect(page.get_by_role("heading", name="Operations", exact=True)).to_be_visible()
    requests_panel = page.locator("section", has=page.get_by_role("heading", name="Service requests"))
    expect(requests_panel.locator("svg")).to_be_visible()
    expect(requests_panel.locator("svg text", has_text="workflow-audio").first).to_be_visible()  # its legend
    expect(page.get_by_text("does not answer")).to_have_count(0)  # Prometheus answered the api-server
    page.screenshot(path=SHOTS / "operations.png", full_page=True)
    print(f"screenshots: {sorted(p.name for p in SHOTS.glob('*.png'))} in {SHOTS}")
