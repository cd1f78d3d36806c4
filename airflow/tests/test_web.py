"""The /hss pages (hss_airflow.web) behind Airflow's own login, on a data root the test writes.

The app is mounted the way the api-server mounts a plugin's `fastapi_apps`, with Airflow's auth manager and
its JWT middleware, so the login checks are Airflow's (revoked tokens are looked up in the test DB).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from airflow.api_fastapi.app import init_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.api_fastapi.auth.middlewares.refresh_token import JWTRefreshMiddleware
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape as markup_escape

from hss_airflow.web.app import PER_PAGE, build_app
from hss_airflow.web.library import Library


def analysis(song_id: str, run_id: str, probability: float, written_at: str, **extra: Any) -> dict[str, Any]:
    return {
        "song_id": song_id,
        "song_path": f"songs/{song_id}.wav",
        "run": {"dag_id": "comprehensive_analysis", "run_id": run_id, "written_at": written_at},
        "audio": {
            "features": {"rhythm.bpm": 124.0},
            "highlights": {
                "tempo_bpm": 124.0,
                "key": "A",
                "scale": "minor",
                "key_strength": 0.8,
                "duration_s": 20.0,
                "loudness": -8.5,
                "danceability": 1.31,
            },
        },
        "content": {"instrumental": False, "sentiment": {"label": "positive", "compound": 0.62}},
        "prediction": {
            "hit_probability": probability,
            "model_version": "t1@abcd1234",
            "explanations": [
                {"feature": "rhythm.danceability", "value": 1.31, "contribution": 0.081},
                {"feature": "lowlevel.loudness_ebu128.integrated", "value": -8.5, "contribution": -0.034},
            ],
        },
        "insights": {
            "summary": "A minor at 124 BPM.",
            "recommendations": [
                {"area": "tempo", "priority": "low", "message": "Keep the tempo."},
                {"area": "loudness", "priority": "high", "message": "Master to -14 LUFS."},
            ],
        },
        **extra,
    }


def write(root: Path, rel: str, document: Any) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "results/songs/song_a/run_1.json", analysis("song_a", "run_1", 0.41, "2026-11-30T10:00:00"))
    rescored = {"rescores": [{"model_version": "t2@ffff0000", "hit_probability": 0.57}]}
    write(
        tmp_path,
        "results/songs/song_a/run_2.json",
        analysis("song_a", "run_2", 0.44, "2026-12-01T09:00:00", **rescored),
    )
    write(tmp_path, "results/songs/song_b/run_3.json", analysis("song_b", "run_3", 0.83, "2026-12-01T08:00:00"))
    write(tmp_path, "results/songs/song_c/run_4.json", '{"song_id": "song_c", "prediction": {"hit_prob')  # cut short
    write(tmp_path, "results/songs/song_c/.run_5.json.x.tmp", "{")  # an atomic write in progress: not a note
    write(tmp_path, "results/batch/run_9.json", {"total": 3})  # a batch summary, not an analysis
    report = {
        "training_id": "t1",
        "model_version": "t1@abcd1234",
        "n_rows": 120,
        "n_features": 18,
        "dataset": {"dropped_count": 2},
        "models": {
            "random_forest": {"auc": 0.84, "auc_std": 0.03, "weight": 0.6, "included": True},
            "knn": {"auc": 0.52, "auc_std": 0.05, "weight": 0.0, "included": False},
        },
        "ensemble": {"auc": 0.86},
        "feature_importances": {"rhythm.danceability": 0.12},
        "promotion": {"promoted": True, "mode": "auto", "decided_by": "rule (auto)", "reason": "auto: better"},
        "run": {"run_id": "manual__t1", "written_at": "2026-12-01T07:00:00"},
    }
    write(tmp_path, "results/training/t1/report.json", report)
    write(tmp_path, "results/training/t2/report.json", "[1, 2")
    return tmp_path


@pytest.fixture
def client(root: Path, airflow_db: Path) -> TestClient:
    server = FastAPI()  # what the api-server does for a plugin: auth manager, JWT middleware, the mount
    init_auth_manager(server)
    server.add_middleware(JWTRefreshMiddleware)
    server.mount("/hss", build_app(Library(root)))
    return TestClient(server, follow_redirects=False)


@pytest.fixture
def token() -> str:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))


PAGES = ["/hss/songs", "/hss/songs/song_a", "/hss/training", "/hss/training/t1", "/hss/operations"]


@pytest.mark.parametrize("path", PAGES)
def test_without_the_ui_login_every_page_sends_the_browser_to_the_login(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/auth/login?next=")
    assert client.get(path, cookies={"_token": "forged"}).status_code == 303


@pytest.mark.parametrize("path", PAGES)
def test_the_ui_session_cookie_and_a_bearer_token_both_open_the_page(client: TestClient, token: str, path: str) -> None:
    assert client.get(path, cookies={"_token": token}).status_code == 200
    client.cookies.clear()
    assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_list_shows_each_songs_newest_analysis_sorted_and_notes_the_broken_file(client, token) -> None:
    html = client.get("/hss/songs?sort=probability&order=desc", cookies={"_token": token}).text
    assert html.index("song_b") < html.index("song_a")  # 83% before 44%
    assert "83.0%" in html and "44.0%" in html and "41.0%" not in html  # only the newest analysis of song_a
    assert "/dags/comprehensive_analysis/runs/run_2" in html  # a link to its DAG run in the UI
    assert "results/songs/song_c/run_4.json: not readable JSON" in html and ".run_5" not in html and "batch" not in html


def test_the_song_page_has_highlights_explanations_recommendations_and_each_models_probability(client, token) -> None:
    html = client.get("/hss/songs/song_a", cookies={"_token": token}).text
    assert "<span class='big' id='hit-probability'>44.0%</span>" in html
    for fact in ("124.0 BPM", "A minor", "-8.5 LUFS", "1.31", "20.0 s", "positive (+0.62)"):
        assert fact in html, fact
    assert "<svg" in html and "rhythm.danceability" in html and "+0.081" in html and "-0.034" in html
    assert html.index("Master to -14 LUFS.") < html.index("Keep the tempo.")  # high before low
    assert "t2@ffff0000: 57.0%" in html and "41.0%" in html  # the rescore, and the older analysis


def test_songs_named_like_the_other_results_folders_are_songs(tmp_path: Path) -> None:
    """results/songs/ holds only songs: a song called "training" or "batch" is listed and shown like any other."""
    for song_id in ("training", "batch"):
        write(tmp_path, f"results/songs/{song_id}/run_1.json", analysis(song_id, "run_1", 0.5, "2026-12-01T10:00:00"))
    write(tmp_path, "results/training/t1/report.json", "[1, 2")  # a training report is never read as a song
    library = Library(tmp_path)
    assert sorted(a.song_id for a in library.analyses().items) == ["batch", "training"]
    for song_id in ("training", "batch"):
        listing = library.song(song_id)
        assert listing is not None and [s.song_id for s, _ in listing.items] == [song_id]


def test_unknown_ids_are_404_pages_and_a_broken_report_is_a_note(client, token, root: Path) -> None:
    for path in ("/hss/songs/nobody", "/hss/songs/training", "/hss/songs/batch", "/hss/training/nothing"):
        response = client.get(path, cookies={"_token": token})
        assert response.status_code == 404 and "<h1>Not found</h1>" in response.text, path
    assert Library(root).song("..") is None and Library(root).training("../t1") == (None, None)
    broken = client.get("/hss/training/t2", cookies={"_token": token})
    assert broken.status_code == 200 and "results/training/t2/report.json: not readable JSON" in broken.text
    listing = client.get("/hss/training", cookies={"_token": token}).text
    assert "t1@abcd1234" in listing and "0.860" in listing and "<b>promoted</b>" in listing and "t2: " not in listing


def test_the_training_page_charts_the_models_and_says_whether_it_was_promoted(client, token) -> None:
    html = client.get("/hss/training/t1", cookies={"_token": token}).text
    assert "<b id='ensemble-auc'>0.860</b>" in html and "120 rows used, 2 dropped" in html
    assert html.count("<svg") == 2 and "random_forest" in html and "0.840 ± 0.030" in html
    assert "<b>Promoted</b> (mode auto, by rule (auto)): auto: better" in html


def test_the_list_paginates(tmp_path: Path, airflow_db: Path, token: str) -> None:
    for i in range(PER_PAGE + 5):
        write(
            tmp_path,
            f"results/songs/s{i:03d}/r.json",
            analysis(f"s{i:03d}", "r", i / 100, f"2026-12-01T{i % 24:02d}:00"),
        )
    server = FastAPI()
    init_auth_manager(server)
    server.mount("/hss", build_app(Library(tmp_path)))
    client = TestClient(server)
    first = client.get("/hss/songs?sort=song&order=asc", cookies={"_token": token}).text
    second = client.get("/hss/songs?sort=song&order=asc&page=2", cookies={"_token": token}).text
    assert "page 1 of 2" in first and "s000" in first and "s054" not in first
    assert "page 2 of 2" in second and "s054" in second and "s000" not in second
    assert client.get("/hss/songs?sort=nonsense", cookies={"_token": token}).status_code == 422


def test_the_plugin_adds_the_nav_entry_and_the_app_at_hss() -> None:
    from airflow import plugins_manager

    [info] = [p for p in plugins_manager.get_plugin_info() if p["name"] == "hss_ui"]
    songs, operations = info["external_views"]
    assert songs["name"] == "Song analyses" and songs["href"] == "hss/songs" and songs["destination"] == "nav"
    assert (operations["name"], operations["href"], operations["url_route"]) == (
        "Operations",
        "hss/operations",
        "operations",
    )
    assert operations["destination"] == "nav"
    assert [app["url_prefix"] for app in info["fastapi_apps"]] == ["/hss"]
    assert os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"].endswith("airflow/plugins")


# --- hostile and malformed files: escaped, noted, never a 500 ----------------------------------------------

PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


def serve(root: Path) -> TestClient:
    server = FastAPI()
    init_auth_manager(server)
    server.mount("/hss", build_app(Library(root)))
    return TestClient(server, follow_redirects=False)


def hostile_report(training_id: str, p: str, **changes: Any) -> dict[str, Any]:
    report = {
        "training_id": training_id,
        "model_version": p,
        "n_rows": 120,
        "n_features": 18,
        "dataset": {"dropped_count": 2},
        "models": {p: {"auc": 0.8, "auc_std": 0.01, "weight": 1.0, "included": True}},
        "ensemble": {"auc": 0.8},
        "feature_importances": {p: 0.1},
        "promotion": {"promoted": False, "mode": p, "decided_by": p, "reason": p},
        "run": {"run_id": p, "written_at": p},
    }
    return {**report, **changes}


@pytest.mark.parametrize("p", PAYLOADS)
def test_every_value_from_a_file_is_escaped(tmp_path: Path, airflow_db: Path, token: str, p: str) -> None:
    """Script in every rendered field of an analysis and a report (and in the counts of a report, which then
    is malformed and says so, quoting the value): the raw payload never reaches the HTML."""
    doc = analysis("placeholder", p, 0.5, p)
    doc["run"]["dag_id"] = p
    doc["prediction"]["model_version"] = p
    doc["prediction"]["explanations"][0]["feature"] = p
    doc["audio"]["highlights"].update(key=p, scale=p)
    doc["content"]["sentiment"]["label"] = p
    doc["insights"] = {"summary": p, "recommendations": [{"area": p, "priority": p, "message": p}]}
    doc["rescores"] = [{"model_version": p, "hit_probability": 0.6}]
    song_folder = p if "/" not in p else "xss_song"  # a song id that can be a folder name is one
    write(tmp_path, f"results/songs/{song_folder}/run.json", {**doc, "song_id": song_folder})
    write(tmp_path, "results/songs/xss_listed/run.json", {**doc, "song_id": p})  # any id in the list
    write(
        tmp_path, "results/songs/xss_bad/run.json", {**doc, "song_id": "xss_bad", "prediction": {"hit_probability": p}}
    )
    write(tmp_path, "results/training/t_xss/report.json", hostile_report("t_xss", p))
    for field in ("n_rows", "n_features"):
        write(tmp_path, f"results/training/t_{field}/report.json", hostile_report(f"t_{field}", p, **{field: p}))
    write(tmp_path, "results/training/t_drop/report.json", hostile_report("t_drop", p, dataset={"dropped_count": p}))
    client = serve(tmp_path)
    quoted = quote(p, safe="")
    paths = [
        "/hss/songs",
        *(f"/hss/songs?sort={key}" for key in ("song", "probability", "model", "when")),
        f"/hss/songs/{quote(song_folder, safe='')}",
        "/hss/songs/xss_bad",
        "/hss/training",
        *(f"/hss/training/{t}" for t in ("t_xss", "t_n_rows", "t_n_features", "t_drop")),
        f"/hss/songs/x{quoted}",  # 404 pages repeat the id
        f"/hss/training/x{quoted}",
    ]
    for path in paths:
        response = client.get(path, cookies={"_token": token})
        assert response.status_code in (200, 404), (path, response.status_code)
        html = response.text
        assert p not in html and "<script" not in html and "<img" not in html, (path, html)
        if response.status_code == 200:
            assert str(markup_escape(p)) in html, path  # shown, escaped: not just left out
    malformed = client.get("/hss/training/t_n_rows", cookies={"_token": token}).text
    assert (
        f"This file is malformed: results/training/t_n_rows/report.json: n_rows is the string {markup_escape(repr(p))}"
        in malformed
    )


GOOD = analysis("song_ok", "run_ok", 0.66, "2026-12-02T10:00:00")
BROKEN_ANALYSES = {
    "probability": (
        {**GOOD, "prediction": {"hit_probability": "abc"}},
        "prediction.hit_probability is the string 'abc', not a finite number",
    ),
    "features": ({**GOOD, "audio": {"features": []}}, "audio.features is a list, not an object"),
    "list": ([GOOD], "the file is a list, not a JSON object"),
    "json": ('{"song_id": "x", ', "not readable JSON"),
    "nan": (
        '{"song_id": "song_bad", "prediction": {"hit_probability": NaN}}',
        "prediction.hit_probability is NaN, infinite or too large, not a finite number",
    ),
    "deep": ("[" * 100_000, "not readable JSON (RecursionError"),
    "model": (
        {**GOOD, "prediction": {"hit_probability": 0.5, "model_version": {"v": 1}}},
        "prediction.model_version is an object",
    ),
    "summary": (
        {**GOOD, "insights": {"summary": 3, "recommendations": []}},
        "insights.summary is the number 3, not a string",
    ),
    "recommendation": (
        {**GOOD, "insights": {"recommendations": ["x"]}},
        "insights.recommendations[0] is the string 'x'",
    ),
    "highlights": ({**GOOD, "audio": {"highlights": "loud"}}, "audio.highlights is the string 'loud', not an object"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_ANALYSES))
def test_a_malformed_result_is_named_in_the_list_and_explained_on_its_page(
    tmp_path: Path, airflow_db: Path, token: str, case: str
) -> None:
    document, reason = BROKEN_ANALYSES[case]
    write(tmp_path, "results/songs/song_ok/run_ok.json", GOOD)
    write(
        tmp_path,
        "results/songs/song_bad/run_bad.json",
        {**document, "song_id": "song_bad"} if isinstance(document, dict) else document,
    )
    client = serve(tmp_path)
    for sort in ("song", "probability", "model", "when"):
        listing = client.get(f"/hss/songs?sort={sort}", cookies={"_token": token})
        assert listing.status_code == 200 and "66.0%" in listing.text  # the good song, as always
        assert f"results/songs/song_bad/run_bad.json: {markup_escape(reason)}" in listing.text
    page = client.get("/hss/songs/song_bad", cookies={"_token": token})
    assert page.status_code == 200
    assert f"This file is malformed: results/songs/song_bad/run_bad.json: {markup_escape(reason)}" in page.text


def test_a_wrong_leaf_value_shows_as_a_dash(tmp_path: Path, airflow_db: Path, token: str) -> None:
    odd = analysis("song_odd", "r", 0.5, "2026-12-01T00:00:00")
    odd["audio"]["highlights"].update(tempo_bpm="fast", loudness=None)
    odd["content"]["sentiment"]["compound"] = "very"
    odd["prediction"]["explanations"] = [{"feature": "x", "contribution": "big"}]
    odd["insights"]["summary"] = "\ud800 lone surrogate"  # JSON allows the escape; UTF-8 has no such character
    write(tmp_path, "results/songs/song_odd/r.json", odd)
    page = serve(tmp_path).get("/hss/songs/song_odd", cookies={"_token": token})
    assert page.status_code == 200 and "positive (\u2013)" in page.text and "nothing to show" in page.text
    assert "<tr><th>tempo</th><td>\u2013</td></tr>" in page.text and "? lone surrogate" in page.text


BROKEN_REPORTS = {
    "rows": ({"n_rows": "abc"}, "n_rows is the string 'abc', not a whole number"),
    "dropped": ({"dataset": {"dropped_count": "abc"}}, "dataset.dropped_count is the string 'abc', not a whole number"),
    "features": ({"n_features": 1.5}, "n_features is the number 1.5, not a whole number"),
    "importances": ({"feature_importances": []}, "feature_importances is a list, not an object"),
    "model auc": ({"models": {"rf": {"auc": "high"}}}, "models.rf.auc is the string 'high', not a finite number"),
    "ensemble": ({"ensemble": {"auc": None, "f1": 1}, "models": {"rf": []}}, "models.rf is a list, not an object"),
    "auc": ({"ensemble": {"auc": "0.9"}}, "ensemble.auc is the string '0.9', not a finite number"),
    "promotion": ({"promotion": "yes"}, "promotion is the string 'yes', not an object"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_REPORTS))
def test_a_malformed_report_is_named_in_the_list_and_explained_on_its_page(
    tmp_path: Path, airflow_db: Path, token: str, case: str
) -> None:
    changes, reason = BROKEN_REPORTS[case]
    write(tmp_path, "results/training/t_ok/report.json", hostile_report("t_ok", "ok@1"))
    write(tmp_path, "results/training/t_bad/report.json", hostile_report("t_bad", "bad@1", **changes))
    write(tmp_path, "results/training/t_list/report.json", [hostile_report("t_list", "x")])
    client = serve(tmp_path)
    listing = client.get("/hss/training", cookies={"_token": token})
    assert listing.status_code == 200 and "ok@1" in listing.text and "bad@1" not in listing.text
    assert f"results/training/t_bad/report.json: {markup_escape(reason)}" in listing.text
    assert "results/training/t_list/report.json: the report is a list, not a JSON object" in listing.text
    page = client.get("/hss/training/t_bad", cookies={"_token": token})
    assert page.status_code == 200
    assert f"This file is malformed: results/training/t_bad/report.json: {markup_escape(reason)}" in page.text
