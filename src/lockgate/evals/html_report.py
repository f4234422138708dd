"""A self-contained HTML report (inline CSS, no scripts, no CDN): summary, comparison, and
per case the two answers side by side with a word diff, verdicts, scores, reasons and cost."""

from __future__ import annotations

import difflib
import html
import re

from lockgate.evals.compare import Comparison
from lockgate.evals.runner import RunResult
from lockgate.evals.stats import Interval
from lockgate.evals.summary import summarize
from lockgate.evals.verdict import CaseResult

__all__ = ["html_report"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}th{background:#f3f3f3}
.pass{color:#0a7a2f;font-weight:600}.fail{color:#b00020;font-weight:600}
.error{color:#a15c00;font-weight:600}
del{background:#fdd;text-decoration:line-through}ins{background:#dfd;text-decoration:none}
.ans{white-space:pre-wrap;max-width:40rem}.reg{color:#b00020}.ok{color:#0a7a2f}
"""

_WORD = re.compile(r"\s+|\S+")


def _e(text: object) -> str:
    return html.escape(str(text))


def word_diff(a: str, b: str) -> tuple[str, str]:
    """Both texts as HTML, words only in ``a`` struck out and words only in ``b`` marked."""
    wa, wb = _WORD.findall(a), _WORD.findall(b)
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes():
        sa, sb = _e("".join(wa[i1:i2])), _e("".join(wb[j1:j2]))
        if op == "equal":
            left.append(sa)
            right.append(sb)
        else:
            if sa:
                left.append(f"<del>{sa}</del>")
            if sb:
                right.append(f"<ins>{sb}</ins>")
    return "".join(left), "".join(right)


def _verdicts(r: CaseResult) -> str:
    if r.error:
        return f'<span class="error">ERROR</span> {_e(r.error)}'
    rows = "".join(
        f'<li><span class="{v.status}">{v.status.upper()}</span> {_e(v.type)}'
        f"{'' if v.score is None else f' ({v.score:.2f})'}: {_e(v.reason)}</li>"
        for v in r.verdicts
    )
    return f"<ul>{rows}</ul>"


def _cost(r: CaseResult) -> str:
    return f"${r.cost_usd:.6f}"


def _row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _iv(label: str, x: Interval, pct: bool) -> str:
    f = "{:+.1%}" if pct else "{:+.3f}"
    if label == "judge win rate":
        f = "{:.1%}"
    est, low, high = (f.format(v) for v in (x.estimate, x.low, x.high))
    return f"<li>{label} {est} (95% CI {low} to {high}, n={x.n})</li>"


def _summary(run: RunResult) -> list[str]:
    head = ["target", "runs", "pass", "fail", "error", "pass rate [95% CI]", "score", "cost (USD)"]
    out = ["<table>" + _row(head, "th")]
    for s in summarize(run):
        pr = s.pass_rate
        rate = "-" if pr.n == 0 else f"{pr.estimate:.1%} [{pr.low:.1%}, {pr.high:.1%}]"
        score = "-" if s.mean_score is None else f"{s.mean_score:.3f}"
        cells = [_e(s.target), str(s.runs), str(s.passed), str(s.failed), str(s.errors), rate]
        out.append(_row([*cells, score, f"{s.cost_usd:.6f}"]))
    out.append("</table>")
    return out


def _comparison(run: RunResult, c: Comparison) -> list[str]:
    if c.errors:
        verdict = f'<p class="error">{c.errors} pairs errored: not trusted (exit 2)</p>'
    elif c.regression:
        verdict = "".join(f'<p class="reg">REGRESSION: {_e(x)}</p>' for x in c.reasons)
    else:
        verdict = '<p class="ok">No regression beyond the margin.</p>'
    out = [f"<h2>{_e(c.candidate)} vs {_e(c.baseline)}</h2>{verdict}<ul>"]
    if c.pass_rate_delta.n:
        out.append(_iv("pass-rate change", c.pass_rate_delta, True))
    out.append(
        f"<li>exact McNemar p = {c.mcnemar.p_value:.3g} (baseline-only passes {c.mcnemar.lost},"
        f" candidate-only {c.mcnemar.gained})</li>"
    )
    if c.score_delta is not None:
        out.append(_iv("score change", c.score_delta, False))
    if c.win_rate is not None:
        out.append(_iv("judge win rate", c.win_rate, True))
    out.append("</ul><h2>Cases</h2><table>")
    out.append(_row(["case", _e(c.baseline), _e(c.candidate)], "th"))
    base = {(r.case_id, r.repeat): r for r in run.for_target(c.baseline)}
    for r in run.for_target(c.candidate):
        b = base.get((r.case_id, r.repeat))
        if b is None:
            continue
        left, right = word_diff(
            b.answer.text if b.answer else "", r.answer.text if r.answer else ""
        )
        change = f"<span class='{b.status}'>{b.status}</span> → "
        change += f"<span class='{r.status}'>{r.status}</span>"
        out.append(
            _row(
                [
                    f"{_e(r.case_id)}<br>{change}",
                    f"<div class='ans'>{left}</div>{_verdicts(b)}<small>{_cost(b)}</small>",
                    f"<div class='ans'>{right}</div>{_verdicts(r)}<small>{_cost(r)}</small>",
                ]
            )
        )
    out.append("</table>")
    return out


def _cases(run: RunResult) -> list[str]:
    out = ["<h2>Cases</h2><table>", _row(["target", "case", "answer", "verdicts", "cost"], "th")]
    for r in run.results:
        text = _e(r.answer.text) if r.answer else ""
        status = f"<span class='{r.status}'>{r.status}</span>"
        out.append(
            _row(
                [
                    _e(r.target),
                    f"{_e(r.case_id)} {status}",
                    f"<div class='ans'>{text}</div>",
                    _verdicts(r),
                    _cost(r),
                ]
            )
        )
    out.append("</table>")
    return out


def html_report(
    run: RunResult, comparison: Comparison | None = None, title: str = "lockgate eval"
) -> str:
    head = f"<meta charset='utf-8'><title>{_e(title)}</title><style>{_CSS}</style>"
    out = [f"<!doctype html><html><head>{head}</head><body><h1>{_e(title)}</h1>"]
    out.extend(_summary(run))
    out.extend(_comparison(run, comparison) if comparison is not None else _cases(run))
    out.append("</body></html>")
    return "\n".join(out)
