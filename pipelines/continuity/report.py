"""The continuity report: one row per cut, as JSON for machines and as a page for people.

A row holds the cut's verdict, its findings and four thumbnails: the two
boundary frames before any fix, and after it (the right frame with the
proposed grade applied, or the re-rendered frame when the caller has it). The
HTML page is a single self-contained file: inline CSS, images as PNG data
URIs, no scripts, nothing fetched.

Thumbnails are display-referred 8-bit pictures for eyes only; this module must
never measure them or write anything but text.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from collections.abc import Iterable
from enum import Enum

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict

from pipelines.color.display import thumbnail
from pipelines.continuity.check import FRAMES, PIXELS
from pipelines.continuity.cut import Cut, CutSide
from pipelines.continuity.findings import Finding, Grade, Requeue, Review, Severity, TakeRow
from pipelines.continuity.report_style import CSS

THUMB_WIDTH = 320
# How a rule and its threshold read on the page: (name, unit of the threshold).
_LABELS = {
    "exposure": ("Exposure", "stop"),
    "white_balance": ("White balance", "Δuv"),
    "contrast": ("Contrast", "log2 ratio"),
    "saturation": ("Saturation", "log2 ratio"),
    "lighting": ("Lighting", "mired"),
    "axis_180": ("180-degree rule", "° off the line"),
    "jump_cut_30": ("30-degree rule", "°"),
    "screen_direction": ("Screen direction", "frame widths a frame"),
    "tags": ("Continuity notes", "mismatch"),
    "format": ("Format", "frame"),
    "frames": ("Frames", ""),
    "pixels": ("Pixels", "bad value"),
}
# What a Requeue patch changes, in words.
_PATCHED = {"lights": "the left shot's lights", "camera": "a new camera"}


class Verdict(str, Enum):
    OK = "ok"  # nothing at warn or above
    FIXED = "fixed"  # every problem has a grade or a re-render on the way
    REVIEW = "review"  # a person has to decide something
    ERROR = "error"  # the cut could not be checked (frames missing, NaNs, a rule failed)


def verdict(findings: Iterable[Finding]) -> Verdict:
    serious = [f for f in findings if f.severity != Severity.INFO]
    if any(f.rule in (FRAMES, PIXELS) or f.measured.get("crashed") for f in serious):
        return Verdict.ERROR
    if any(isinstance(f.fix, Review) for f in serious):
        return Verdict.REVIEW
    return Verdict.FIXED if serious else Verdict.OK


class CutReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cut: str
    left: str
    right: str
    left_frame: int
    right_frame: int
    verdict: Verdict
    findings: tuple[Finding, ...]
    before: tuple[str | None, str | None]
    """PNG data URIs of the left and right boundary frames as mastered now (None: no frame)."""
    after: tuple[str | None, str | None]
    after_label: str
    """What `after` shows: 'unchanged', 'graded', 're-rendered' or 're-render pending'."""

    @classmethod
    def build(cls, cut: Cut, findings: list[Finding], rerendered: np.ndarray | None = None, width: int = THUMB_WIDTH) -> CutReport:
        """A row for a checked cut; `rerendered` is the right frame rendered again after a Requeue."""
        left, right = _graded(cut.left), _graded(cut.right)
        before = (_data_uri(left, width), _data_uri(right, width))
        fix_kinds = {type(f.fix) for f in findings if f.fix is not None}
        after_right, label = before[1], "unchanged"
        if Requeue in fix_kinds:
            if rerendered is not None:
                after_right, label = _data_uri(_graded_pixels(cut.right, rerendered), width), "re-rendered"
            else:
                after_right, label = None, "re-render pending"
        elif Grade in fix_kinds and cut.right.usable:
            grade = next(f.fix for f in findings if isinstance(f.fix, Grade))
            assert isinstance(grade, Grade)
            after_right, label = _data_uri(grade.cdl.apply(cut.right.pixels), width), "graded"
        return cls(
            cut=cut.name,
            left=cut.left.shot.name,
            right=cut.right.shot.name,
            left_frame=cut.left.frame,
            right_frame=cut.right.frame,
            verdict=verdict(findings),
            findings=tuple(findings),
            before=before,
            after=(before[0], after_right),
            after_label=label,
        )


def _graded_pixels(side: CutSide, pixels: np.ndarray) -> np.ndarray:
    return side.shot.grade.apply(pixels) if side.shot.grade else pixels


def _graded(side: CutSide) -> np.ndarray | None:
    if side.pixels is None or side.pixels.ndim != 3 or side.pixels.shape[-1] != 3:
        return None
    return _graded_pixels(side, np.asarray(side.pixels, dtype=np.float32))


def _data_uri(rgb: np.ndarray | None, width: int) -> str | None:
    if rgb is None:
        return None
    buf = io.BytesIO()
    Image.fromarray(thumbnail(rgb, width)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def report_json(rows: Iterable[CutReport]) -> str:
    return json.dumps([row.model_dump(mode="json") for row in rows], indent=2)


# -- HTML ---------------------------------------------------------------------


def takes_json(takes: Iterable[TakeRow]) -> str:
    return json.dumps([t.model_dump(mode="json") for t in takes], indent=2)


def report_html(rows: Iterable[CutReport], title: str = "Continuity report", takes: Iterable[TakeRow] = ()) -> str:
    rows, takes = list(rows), list(takes)
    counts = Counter(row.verdict for row in rows)
    summary = "".join(f'<span class="pill {v.value}">{counts[v]} {v.value}</span>' for v in Verdict if counts[v])
    index = "".join(f'<a class="chip {r.verdict.value}" href="#{_id(r.cut)}">{_e(r.left)} › {_e(r.right)}</a>' for r in rows)
    body = "".join(_section(r) for r in rows) or '<p class="empty">No cuts were checked.</p>'
    body += _takes(takes)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><h1>{_e(title)}</h1><p class="summary">{len(rows)} cut'
        f"{'s' if len(rows) != 1 else ''} {summary}</p><nav>{index}</nav></header>"
        f"<main>{body}</main></body></html>\n"
    )


def _section(r: CutReport) -> str:
    findings = "".join(_finding(f) for f in r.findings) or '<p class="clean">No continuity problems.</p>'
    return (
        f'<section class="cut" id="{_id(r.cut)}"><header>'
        f'<h2>{_e(r.left)} <span class="arrow">›</span> {_e(r.right)}</h2>'
        f'<span class="badge {r.verdict.value}">{r.verdict.value}</span>'
        f'<span class="where">frames {r.left_frame} | {r.right_frame}</span></header>'
        f'<div class="pairs">{_pair("Before", r.before, r)}{_pair("After · " + r.after_label, r.after, r)}</div>'
        f'<ol class="findings">{findings}</ol></section>'
    )


def _takes(takes: list[TakeRow]) -> str:
    """One table per generated shot: every take's score and cost, the accepted one first-class, and why it won."""
    by_shot: dict[str, list[TakeRow]] = {}
    for t in takes:
        by_shot.setdefault(t.shot, []).append(t)
    out = ""
    for shot, rows in by_shot.items():
        winner = next((t for t in rows if t.accepted), None)
        body = "".join(
            f'<tr class="{"accepted" if t.accepted else "rejected"}"><td>{t.take}</td><td>{t.seed if t.seed is not None else ""}</td>'
            f"<td>{t.score:.2f}</td><td>{_e(', '.join(t.findings) or 'none')}</td>"
            f"<td>{t.node_seconds:.1f}</td><td>${t.cost_usd:.4f}</td><td>{'accepted' if t.accepted else 'rejected'}</td></tr>"
            for t in rows
        )
        total = sum(t.cost_usd for t in rows)
        seconds = max(t.shot_seconds for t in rows)
        per_second = f" · ${total / seconds:.4f} per second of accepted picture" if seconds > 0 else ""
        out += (
            f'<section class="cut takes" id="takes-{_id(shot).removeprefix("cut-")}"><header><h2>{_e(shot)} takes</h2>'
            f'<span class="where">v{rows[0].version} · {len(rows)} takes · ${total:.4f} in all{per_second}</span></header>'
            f"<p>{_e(winner.reason if winner else 'No take accepted.')}</p>"
            "<table><thead><tr><th>take</th><th>seed</th><th>score</th><th>findings</th><th>node-s</th><th>cost</th><th></th>"
            f"</tr></thead><tbody>{body}</tbody></table></section>"
        )
    return out


def _pair(caption: str, uris: tuple[str | None, str | None], r: CutReport) -> str:
    imgs = "".join(
        f'<img src="{u}" alt="{_e(name)} frame {frame}">' if u else f'<div class="missing">{_e(name)}: no frame</div>'
        for u, name, frame in ((uris[0], r.left, r.left_frame), (uris[1], r.right, r.right_frame))
    )
    return f'<figure><div class="frames">{imgs}</div><figcaption>{_e(caption)}</figcaption></figure>'


def _finding(f: Finding) -> str:
    measured = "".join(f"<dt>{_e(k)}</dt><dd>{v:.4g}</dd>" for k, v in f.measured.items())
    name, unit = _LABELS.get(f.rule, (f.rule.replace("_", " ").capitalize(), ""))
    return (
        f'<li class="finding {f.severity.value}"><div class="head">'
        f'<span class="sev {f.severity.value}">{f.severity.value}</span>'
        f"<strong>{_e(name)}</strong>"
        f'<span class="threshold">threshold {f.threshold:.3g} {_e(unit)}</span></div>'
        f"<p>{_e(f.explanation)}</p>{_fix(f)}"
        f"<details><summary>measured</summary><dl>{measured}</dl></details></li>"
    )


def _fix(f: Finding) -> str:
    fix = f.fix
    if fix is None:
        return ""
    if isinstance(fix, Grade):
        c = fix.cdl
        sop = f"slope {_triple(c.slope)} · offset {_triple(c.offset)} · power {_triple(c.power)} · saturation {c.saturation:.3f}"
        return f'<p class="fix grade"><b>Grade {_e(fix.shot)}</b> <code>{_e(sop)}</code></p>'
    if isinstance(fix, Requeue):
        changes = " and ".join(_PATCHED.get(k, f"a new {k}") for k in sorted(fix.patch)) or "nothing changed"
        patch = json.dumps(fix.patch, indent=1)
        return (
            f'<p class="fix requeue"><b>Re-render {_e(fix.shot)}</b> with {_e(changes)}</p>'
            f'<details class="patch"><summary>patch</summary><pre>{_e(patch)}</pre></details>'
        )
    return f'<p class="fix review"><b>Review</b> {_e(fix.reason)}</p>'


def _triple(t: tuple[float, float, float]) -> str:
    return "(" + " ".join(f"{v:.3f}" for v in t) + ")"


def _id(cut: str) -> str:
    return "cut-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in cut)


def _e(text: str) -> str:
    return html.escape(text, quote=True)
