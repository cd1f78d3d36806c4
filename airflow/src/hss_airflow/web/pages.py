"""The /hss pages: what hss_airflow.web.library read, turned into the values each template shows.

The HTML is in templates/ (Jinja2, autoescape on, hss_airflow.web.templating): this module formats numbers
and picks fields, and never builds markup. Links are absolute (/hss/..., and the Airflow UI's /dags/...
for runs). Documents reach here checked (hss_airflow.web.shapes), so the containers have their types;
a leaf of the wrong type shows as a dash.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hss_airflow.web.charts import bars, signed_bars
from hss_airflow.web.library import Analysis, Listing, Training
from hss_airflow.web.operations import WINDOWS
from hss_airflow.web.shapes import is_number
from hss_airflow.web.templating import render

PREFIX = "/hss"
PRIORITIES = ("high", "medium", "low")
NONE = "\u2013"  # an en dash for a missing value


def _page(template: str, title: str, **context: Any) -> str:
    return render(template, title=title, prefix=PREFIX, **context)


def message_page(title: str, lines: list[str], *, back: bool = False) -> str:
    """A page of plain paragraphs: an error, a 404 (with a link back to the songs)."""
    return _page("message.html", title, lines=lines, back=back)


def not_found(what: str) -> str:
    return message_page("Not found", [what], back=True)


def malformed_page(title: str, notes: list[str]) -> str:
    """The detail page of a file that cannot be shown: which file, and why."""
    return _page("message.html", title, lines=[], malformed=notes, back=False)


def when(stamp: str) -> str:
    """'2026-12-01T09:00:00.123+00:00' -> '2026-12-01 09:00:00' (UTC)."""
    return stamp[:19].replace("T", " ")


def pct(value: float | None) -> str:
    return NONE if value is None else f"{value:.1%}"


def auc(value: float | None) -> str:
    return NONE if value is None else f"{value:.3f}"


def _number(value: Any, fmt: str, default: str = NONE) -> str:
    return format(value, fmt) if is_number(value) else default


def _pager(base: str, page_no: int, pages: int, query: dict[str, str]) -> dict[str, Any]:
    def link(n: int) -> str:
        return base + "?" + urlencode({**query, "page": n})

    return {
        "page_no": page_no,
        "pages": pages,
        "prev": link(page_no - 1) if page_no > 1 else None,
        "next": link(page_no + 1) if page_no < pages else None,
    }


def _run(a: Analysis) -> dict[str, Any]:
    """What a table row or the head of the song page shows of one analysis."""
    return {
        "song_id": a.song_id,
        "probability": pct(a.hit_probability),
        "model": a.model_version or NONE,
        "when": when(a.written_at),
        "dag_id": a.dag_id,
        "run_id": a.run_id,
        "rescores": [(model, pct(p)) for model, p in a.rescores],
    }


SONG_SORTS = {
    "probability": lambda r: (r["analysis"].hit_probability is None, r["analysis"].hit_probability or 0.0),
    "song": lambda r: r["analysis"].song_id,
    "when": lambda r: r["analysis"].written_at,
    "model": lambda r: r["analysis"].model_version or "",
}
SONG_COLUMNS = (("song", "song"), ("probability", "hit probability"), ("model", "model version"))


def songs_page(listing: Listing, *, sort: str, order: str, page_no: int, per_page: int) -> str:
    rows = sorted(listing.items, key=SONG_SORTS[sort], reverse=order == "desc")
    pages = max(1, -(-len(rows) // per_page))
    page_no = min(page_no, pages)
    shown = rows[(page_no - 1) * per_page : page_no * per_page]

    def head(key: str, text: str) -> dict[str, str]:
        flip = "asc" if sort == key and order == "desc" else "desc"
        arrow = (" ▼" if order == "desc" else " ▲") if sort == key else ""
        return {"href": f"{PREFIX}/songs?{urlencode({'sort': key, 'order': flip})}", "text": text, "arrow": arrow}

    return _page(
        "songs.html",
        "Song analyses",
        total=len(rows),
        notes=listing.notes,
        heads=[head(key, text) for key, text in (*SONG_COLUMNS, ("when", "analysed (UTC)"))],
        rows=[{**_run(r["analysis"]), "count": r["count"]} for r in shown],
        pager=_pager(f"{PREFIX}/songs", page_no, pages, {"sort": sort, "order": order}),
    )


def _facts(document: dict[str, Any]) -> list[tuple[str, str]]:
    hl = (document.get("audio") or {}).get("highlights") or {}
    content = document.get("content") or {}
    sentiment = content.get("sentiment") or {}
    lyrics = (
        "instrumental"
        if content.get("instrumental")
        else f"{sentiment.get('label', NONE)} ({_number(sentiment.get('compound', 0), '+.2f')})"
    )
    return [
        ("tempo", _number(hl.get("tempo_bpm"), ".1f") + (" BPM" if is_number(hl.get("tempo_bpm")) else "")),
        ("key", f"{hl.get('key', NONE)} {hl.get('scale', '')}"),
        ("loudness", _number(hl.get("loudness"), ".1f") + (" LUFS" if is_number(hl.get("loudness")) else "")),
        ("danceability", _number(hl.get("danceability"), ".2f")),
        ("duration", _number(hl.get("duration_s"), ".1f") + (" s" if is_number(hl.get("duration_s")) else "")),
        ("lyrics sentiment", lyrics),
    ]


def _recommendations(insights: dict[str, Any]) -> list[dict[str, str]]:
    recs = sorted(
        insights.get("recommendations") or [],
        key=lambda r: PRIORITIES.index(r.get("priority")) if r.get("priority") in PRIORITIES else 3,
    )
    return [
        {"priority": str(r.get("priority")), "area": str(r.get("area", "")), "message": str(r.get("message", ""))}
        for r in recs
    ]


def song_page(song_id: str, listing: Listing) -> str:
    title = f"Song {song_id}"
    if not listing.items:
        return _page("song.html", title, latest=None, malformed=listing.notes)
    latest, document = listing.items[0]
    prediction = document.get("prediction") or {}
    insights = document.get("insights") or {}
    contributions = [
        (str(e.get("feature")), float(e["contribution"]))
        for e in prediction.get("explanations") or []
        if is_number(e.get("contribution"))
    ][:12]
    return _page(
        "song.html",
        title,
        latest=_run(latest),
        malformed=listing.notes,
        summary=str(insights.get("summary") or ""),
        facts=_facts(document),
        chart=signed_bars("Why this probability: feature contributions", contributions),
        recommendations=_recommendations(insights),
        history=[_run(a) for a, _ in listing.items],
    )


def trainings_page(listing: Listing) -> str:
    def row(t: Training) -> dict[str, Any]:
        return {
            "training_id": t.training_id,
            "model": t.model_version,
            "auc": auc(t.ensemble_auc),
            "rows": NONE if t.rows is None else t.rows,
            "dropped": t.dropped,
            "promoted": t.promoted,
            "when": when(t.written_at),
        }

    return _page("trainings.html", "Training runs", notes=listing.notes, rows=[row(t) for t in listing.items])


def training_page(report: dict[str, Any]) -> str:
    models: dict[str, dict[str, Any]] = report.get("models") or {}
    ensemble, dataset = report.get("ensemble") or {}, report.get("dataset") or {}
    auc_items = [(n, float(m.get("auc") or 0)) for n, m in models.items()]
    if is_number(ensemble.get("auc")):
        auc_items.append(("ensemble", float(ensemble["auc"])))
    left_out = {n for n, m in models.items() if not m.get("included")}
    importances = sorted(
        ((k, float(v)) for k, v in (report.get("feature_importances") or {}).items()),
        key=lambda kv: abs(kv[1]),
        reverse=True,
    )[:15]
    top = max((v for _, v in importances), default=1.0) or 1.0
    promotion = report.get("promotion")
    return _page(
        "training.html",
        f"Training {report['training_id']}",
        model=str(report.get("model_version")),
        ensemble_auc=_number(ensemble.get("auc", 0), ".3f"),
        n_rows=NONE if report.get("n_rows") is None else report["n_rows"],
        dropped=dataset.get("dropped_count") or 0,
        n_features=NONE if report.get("n_features") is None else report["n_features"],
        promotion=None
        if not promotion
        else {
            "promoted": bool(promotion.get("promoted")),
            "mode": str(promotion.get("mode")),
            "decided_by": str(promotion.get("decided_by")),
            "reason": str(promotion.get("reason")),
        },
        auc_chart=bars("Cross-validated AUC (grey: left out)", auc_items, muted=left_out, marker=("chance 0.5", 0.5)),
        importance_chart=bars("Top feature importances (AUC drop)", importances, high=top),
        models=[
            {
                "name": n,
                "auc": f"{m.get('auc') or 0:.3f}",
                "auc_std": f"{m.get('auc_std') or 0:.3f}",
                "weight": f"{m.get('weight') or 0:.2f}",
                "included": "yes" if m.get("included") else "no",
            }
            for n, m in models.items()
        ],
    )


def operations_page(window: str, prometheus_url: str | None, view: dict[str, Any] | None) -> str:
    """`view`: hss_airflow.web.operations.collect's answer; None when no Prometheus is configured."""
    return _page(
        "operations.html",
        "Operations",
        windows=[{"name": w, "href": f"{PREFIX}/operations?{urlencode({'window': w})}"} for w in WINDOWS],
        window=window,
        prometheus_url=prometheus_url,
        view=view,
    )
