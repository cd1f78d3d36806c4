"""The /hss pages as HTML: plain functions from what hss_airflow.web.library read to a page. Everything a
file holds is escaped; links are absolute (/hss/..., and the Airflow UI's /dags/... for runs)."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from hss_airflow.web.charts import bars, signed_bars
from hss_airflow.web.library import Listing, Training

PREFIX = "/hss"
PRIORITIES = ("high", "medium", "low")
NONE = "\u2013"  # an en dash for a missing value
CSS = """
body{font-family:system-ui,sans-serif;margin:24px 32px;color:#1c2833;max-width:1300px}
nav a{margin-right:18px;font-weight:600}a{color:#1565c0;text-decoration:none}a:hover{text-decoration:underline}
table{border-collapse:collapse;margin:12px 0 20px}
th,td{padding:6px 12px;border-bottom:1px solid #dde3e8;text-align:left}
th{background:#f3f6f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.notes{background:#fff8e1;border-left:4px solid #f9a825;padding:8px 12px;margin:12px 0}
.big{font-size:2.2em;font-weight:700}.pill{padding:2px 8px;border-radius:10px;background:#e3f2fd}
.high{color:#c62828;font-weight:600}.medium{color:#ef6c00;font-weight:600}.low{color:#2e7d32}
.grid{display:flex;flex-wrap:wrap;gap:32px;align-items:flex-start}
"""


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)} · HSS</title>"
        f"<style>{CSS}</style></head><body><nav><a href='{PREFIX}/songs'>Song analyses</a>"
        f"<a href='{PREFIX}/training'>Training runs</a></nav><h1>{escape(title)}</h1>{body}</body></html>"
    )


def notes(items: list[str]) -> str:
    if not items:
        return ""
    shown = "".join(f"<li>{escape(n)}</li>" for n in items[:20])
    more = f"<li>… and {len(items) - 20} more</li>" if len(items) > 20 else ""
    return f"<div class='notes'><b>{len(items)} file(s) skipped:</b><ul>{shown}{more}</ul></div>"


def when(stamp: str) -> str:
    """'2026-12-01T09:00:00.123+00:00' -> '2026-12-01 09:00:00' (UTC, escaped)."""
    return escape(stamp[:19].replace("T", " "))


def pct(value: float | None) -> str:
    return NONE if value is None else f"{value:.1%}"


def run_link(dag_id: str, run_id: str) -> str:
    href = f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return f"<a href='{escape(href)}'>{escape(run_id)}</a>"


def pager(base: str, page_no: int, pages: int, query: dict[str, str]) -> str:
    def link(n: int, text: str) -> str:
        return f"<a href='{escape(base + '?' + urlencode({**query, 'page': n}))}'>{text}</a>"

    prev = link(page_no - 1, "← previous") if page_no > 1 else ""
    nxt = link(page_no + 1, "next →") if page_no < pages else ""
    return f"<p>{prev} page {page_no} of {pages} {nxt}</p>"


SONG_SORTS = {
    "probability": lambda r: (r["analysis"].hit_probability is None, r["analysis"].hit_probability or 0.0),
    "song": lambda r: r["analysis"].song_id,
    "when": lambda r: r["analysis"].written_at,
    "model": lambda r: r["analysis"].model_version or "",
}


def songs_page(listing: Listing, *, sort: str, order: str, page_no: int, per_page: int) -> str:
    rows = sorted(listing.items, key=SONG_SORTS[sort], reverse=order == "desc")
    pages = max(1, -(-len(rows) // per_page))
    page_no = min(page_no, pages)
    shown = rows[(page_no - 1) * per_page : page_no * per_page]

    def head(key: str, text: str) -> str:
        flip = "asc" if sort == key and order == "desc" else "desc"
        arrow = (" ▼" if order == "desc" else " ▲") if sort == key else ""
        return f"<th><a href='{PREFIX}/songs?{urlencode({'sort': key, 'order': flip})}'>{text}{arrow}</a></th>"

    body = "".join(
        f"<tr><td><a href='{PREFIX}/songs/{quote(a.song_id)}'>{escape(a.song_id)}</a></td>"
        f"<td class='num'>{pct(a.hit_probability)}</td><td>{escape(a.model_version or NONE)}</td>"
        f"<td>{when(a.written_at)}</td><td class='num'>{r['count']}</td>"
        f"<td>{run_link(a.dag_id, a.run_id)}</td></tr>"
        for r in shown
        for a in [r["analysis"]]
    )
    table = (
        f"<table><tr>{head('song', 'song')}{head('probability', 'hit probability')}{head('model', 'model version')}"
        f"{head('when', 'analysed (UTC)')}<th>analyses</th><th>DAG run</th></tr>{body}</table>"
    )
    empty = "<p>No analysed song yet: trigger <code>comprehensive_analysis</code>.</p>" if not rows else ""
    summary = f"<p>{len(rows)} song(s), newest analysis of each.</p>"
    return page(
        "Song analyses",
        summary
        + notes(listing.notes)
        + empty
        + (table if rows else "")
        + pager(f"{PREFIX}/songs", page_no, pages, {"sort": sort, "order": order}),
    )


def song_page(song_id: str, listing: Listing) -> str:
    if not listing.items:
        return page(f"Song {song_id}", notes(listing.notes) + "<p>No readable analysis of this song.</p>")
    latest, document = listing.items[0]
    audio = document.get("audio") or {}
    hl = audio.get("highlights") or {}
    content = document.get("content") or {}
    sentiment = content.get("sentiment") or {}
    prediction = document.get("prediction") or {}
    insights = document.get("insights") or {}
    facts = [
        ("tempo", f"{hl.get('tempo_bpm', 0):.1f} BPM" if isinstance(hl.get("tempo_bpm"), int | float) else NONE),
        ("key", f"{hl.get('key', NONE)} {hl.get('scale', '')}"),
        ("loudness", f"{hl['loudness']:.1f} LUFS" if isinstance(hl.get("loudness"), int | float) else NONE),
        ("danceability", f"{hl['danceability']:.2f}" if isinstance(hl.get("danceability"), int | float) else NONE),
        ("duration", f"{hl['duration_s']:.1f} s" if isinstance(hl.get("duration_s"), int | float) else NONE),
        (
            "lyrics sentiment",
            "instrumental"
            if content.get("instrumental")
            else f"{sentiment.get('label', NONE)} ({sentiment.get('compound', 0):+.2f})",
        ),
    ]
    highlights = "<table>" + "".join(f"<tr><th>{k}</th><td>{escape(str(v))}</td></tr>" for k, v in facts) + "</table>"
    contributions = [
        (str(e.get("feature")), float(e["contribution"]))
        for e in prediction.get("explanations") or []
        if isinstance(e, dict) and isinstance(e.get("contribution"), int | float)
    ][:12]
    chart = signed_bars("Why this probability: feature contributions", contributions)
    recs = sorted(
        (r for r in insights.get("recommendations") or [] if isinstance(r, dict)),
        key=lambda r: PRIORITIES.index(r.get("priority")) if r.get("priority") in PRIORITIES else 3,
    )
    rec_list = (
        "".join(
            f"<li><span class='{escape(str(r.get('priority')))}'>{escape(str(r.get('priority')))}</span> "
            f"<b>{escape(str(r.get('area', '')))}</b>: {escape(str(r.get('message', '')))}</li>"
            for r in recs
        )
        or "<li>none</li>"
    )
    history = "".join(
        f"<tr><td>{when(a.written_at)}</td><td>{run_link(a.dag_id, a.run_id)}</td>"
        f"<td class='num'>{pct(a.hit_probability)}</td><td>{escape(a.model_version or NONE)}</td>"
        f"<td>{'; '.join(f'{escape(m)}: {pct(p)}' for m, p in a.rescores) or NONE}</td></tr>"
        for a, _ in listing.items
    )
    body = (
        f"<p><span class='big' id='hit-probability'>{pct(latest.hit_probability)}</span> hit probability, "
        f"model <span class='pill'>{escape(latest.model_version or NONE)}</span>, analysed "
        f"{when(latest.written_at)} UTC ({run_link(latest.dag_id, latest.run_id)})</p>"
        f"{notes(listing.notes)}<p>{escape(str(insights.get('summary', '')))}</p>"
        f"<div class='grid'><div><h2>Highlights</h2>{highlights}</div><div>{chart}</div></div>"
        f"<h2>Recommendations</h2><ul>{rec_list}</ul>"
        f"<h2>Every analysis, newest first</h2><table><tr><th>analysed (UTC)</th><th>DAG run</th>"
        f"<th>hit probability</th><th>model</th><th>rescored with later models</th></tr>{history}</table>"
    )
    return page(f"Song {song_id}", body)


def auc(value: float | None) -> str:
    return NONE if value is None else f"{value:.3f}"


def trainings_page(listing: Listing) -> str:
    def promoted(t: Training) -> str:
        return {True: "<b>promoted</b>", False: "kept out", None: NONE}[t.promoted]

    rows = "".join(
        f"<tr><td><a href='{PREFIX}/training/{quote(t.training_id)}'>{escape(t.training_id)}</a></td>"
        f"<td>{escape(t.model_version)}</td><td class='num'>{auc(t.ensemble_auc)}</td>"
        f"<td class='num'>{t.rows if t.rows is not None else NONE}</td><td class='num'>{t.dropped}</td>"
        f"<td>{promoted(t)}</td><td>{when(t.written_at)}</td></tr>"
        for t in listing.items
    )
    table = (
        "<table><tr><th>training</th><th>model version</th><th>ensemble AUC</th><th>rows used</th>"
        f"<th>rows dropped</th><th>promotion</th><th>finished (UTC)</th></tr>{rows}</table>"
    )
    empty = "<p>No training yet: trigger <code>ml_training_smart_ensemble</code>.</p>" if not listing.items else ""
    return page("Training runs", notes(listing.notes) + empty + (table if listing.items else ""))


def training_page(report: dict[str, Any]) -> str:
    models = report.get("models") if isinstance(report.get("models"), dict) else {}
    ensemble = report.get("ensemble") if isinstance(report.get("ensemble"), dict) else {}
    auc_items = [(n, float(m.get("auc", 0))) for n, m in models.items() if isinstance(m, dict)]
    if isinstance(ensemble.get("auc"), int | float):
        auc_items.append(("ensemble", float(ensemble["auc"])))
    left_out = {n for n, m in models.items() if isinstance(m, dict) and not m.get("included")}
    auc_chart = bars("Cross-validated AUC (grey: left out)", auc_items, muted=left_out, marker=("chance 0.5", 0.5))
    importances = sorted(
        ((k, float(v)) for k, v in (report.get("feature_importances") or {}).items() if isinstance(v, int | float)),
        key=lambda kv: abs(kv[1]),
        reverse=True,
    )[:15]
    top = max((v for _, v in importances), default=1.0) or 1.0
    imp_chart = bars("Top feature importances (AUC drop)", importances, high=top)
    table = "".join(
        f"<tr><td>{escape(n)}</td><td class='num'>{m.get('auc', 0):.3f} ± {m.get('auc_std', 0):.3f}</td>"
        f"<td class='num'>{m.get('weight', 0):.2f}</td><td>{'yes' if m.get('included') else 'no'}</td></tr>"
        for n, m in models.items()
        if isinstance(m, dict)
    )
    dataset = report.get("dataset") if isinstance(report.get("dataset"), dict) else {}
    promotion = report.get("promotion") if isinstance(report.get("promotion"), dict) else None
    decision = (
        f"<p><b>{'Promoted' if promotion.get('promoted') else 'Not promoted'}</b> "
        f"(mode {escape(str(promotion.get('mode')))}, by {escape(str(promotion.get('decided_by')))}): "
        f"{escape(str(promotion.get('reason')))}</p>"
        if promotion
        else "<p>No promotion decision recorded yet.</p>"
    )
    body = (
        f"<p>Model <span class='pill'>{escape(str(report.get('model_version')))}</span>, ensemble AUC "
        f"<b id='ensemble-auc'>{ensemble.get('auc', 0):.3f}</b>, {report.get('n_rows', NONE)} rows used, "
        f"{dataset.get('dropped_count', 0)} dropped, {report.get('n_features', NONE)} features.</p>{decision}"
        f"<div class='grid'><div>{auc_chart}</div><div>{imp_chart}</div></div>"
        "<h2>Models</h2><table><tr><th>model</th><th>AUC</th><th>weight</th><th>in the ensemble</th></tr>"
        f"{table}</table>"
    )
    return page(f"Training {report.get('training_id')}", body)


def not_found(what: str) -> str:
    return page("Not found", f"<p>{escape(what)}</p><p><a href='{PREFIX}/songs'>All song analyses</a></p>")
