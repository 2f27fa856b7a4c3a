"""The human-readable page of an evidence package (reports/report.html): every evidence item with
its hash, its candidates and plate reads with their crops, scores and review state. Self-contained
(no scripts, no remote resources); images are the package's own files."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["report_html"]

STYLE = ("body{font-family:sans-serif;margin:2em;color:#111}table{border-collapse:collapse;margin:.5em 0 1.5em}"
         "td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}"
         "img{max-height:96px}code{font-size:90%}.note{background:#ffe;padding:.5em;border:1px solid #cc9}")


def _cell(value: Any) -> str:
    return f"<td>{escape('' if value is None else str(value))}</td>"


def _img(path: str | None) -> str:
    return f'<td><img src="../{escape(path)}" alt="crop"></td>' if path else "<td>-</td>"


def _candidates(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No watchlist candidates.</p>"
    head = "<tr><th>crop</th><th>subject (candidate)</th><th>score</th><th>distance / threshold</th>" \
           "<th>time (s)</th><th>review</th><th>by</th><th>reason</th></tr>"
    body = "".join("<tr>" + _img(c["crop_file"]) + _cell(c["subject"]) + _cell(c["score"])
                   + _cell(f"{c['distance']} / {c['threshold']:.4f}") + _cell(c["crop_t_s"]) + _cell(c["review_state"])
                   + _cell(c["reviewed_by"]) + _cell(c.get("review_reason")) + "</tr>" for c in rows)
    return f"<table>{head}{body}</table>"


def _plates(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No plate sightings.</p>"
    head = "<tr><th>plate crop</th><th>overview</th><th>read</th><th>confidence</th><th>alternatives</th>" \
           "<th>seen (s)</th><th>review</th><th>by</th></tr>"
    body = "".join("<tr>" + _img(p["crop_file"]) + _img(p["overview_file"]) + _cell(p["plate"]) + _cell(round(p["confidence"], 3))
                   + _cell(", ".join(str(a[0]) for a in p["alternatives"])) +
                   _cell(f"{p['first_t_s']:.1f}-{p['last_t_s']:.1f}") + _cell(p["review_state"]) + _cell(p["reviewed_by"])
                   + "</tr>" for p in rows)
    return f"<table>{head}{body}</table>"


def _sender(sender: dict[str, Any] | None) -> list[str]:
    """Who sent the evidence, and what they said with it, as they wrote it."""
    if not sender:
        return []
    rows = [("From", sender.get("from")), ("Receipt", sender.get("reference")), ("How", sender.get("via")),
            ("Recorded by", sender.get("recorded_by")), ("Device", sender.get("device")),
            ("What they said the video shows", sender.get("caption")), ("Contact", sender.get("contact"))]
    return ["<h3>Sender</h3><table>", *(f"<tr><th>{k}</th>{_cell(v)}</tr>" for k, v in rows if v), "</table>"]


def report_html(summary: dict[str, Any]) -> str:
    inc = summary["incident"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Incident {escape(inc['reference'])}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>Incident {escape(inc['reference'])} {escape(inc['title'] or '')}</h1>",
             f"<p>Exported {escape(summary['exported_at'])} by {escape(summary['exported_by'])} "
             f"({escape(summary['software'])}). Reason: {escape(summary['reason'])}</p>",
             f"<p class='note'>{escape(summary['note'])} File hashes: MANIFEST.sha256; models and thresholds: "
             "provenance.json; who did what: audit.json.</p>"]
    for ev in summary["evidence"]:
        parts += [f"<h2>Evidence {ev['id']}: {escape(ev['name'])}</h2>",
                  f"<p>SHA-256 <code>{ev['sha256']}</code>, {ev['size_bytes']} bytes, {ev['duration_s']} s, "
                  f"recorded {escape(str(ev['creation_time'] or 'unknown'))}, state {escape(ev['state'])}</p>",
                  *_sender(ev.get("sender")),
                  "<h3>Watchlist candidates</h3>", _candidates(ev["candidates"]),
                  "<h3>Plate sightings</h3>", _plates(ev["plates"])]
    parts.append("</body></html>")
    return "\n".join(parts)
