"""evaluate_pairs counts hits, false hits and guard vetoes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.semantic.fixed_vectors import table_embedder, unit

from lockgate.cache.semantic.embedder import LocalEmbedder
from lockgate.cache.semantic.eval import evaluate_pairs, evaluate_pairs_async, load_pairs, main
from lockgate.cache.semantic.semantic_cache import SemanticSettings

# Scores are fixed by the table: (1, 0) against (0.95, 0.31) is 0.95; the joke pair is 0.
VECTORS = {
    "How do I reset my password?": unit(1, 0),
    "How can I reset my password?": unit(0.95, 0.3122),
    "What is 2+2?": unit(1, 0),
    "What is 2+3?": unit(0.95, 0.3122),
    "Tell me a joke": unit(0.95, 0.3122),
    "Make me laugh": unit(-0.3122, 0.95),
    "Is the sky blue?": unit(1, 0),
    "Is the sky not blue?": unit(0.95, 0.3122),
    "Name a color": unit(1, 0),
    "Name a colour": unit(0.95, 0.3122),
}
PAIRS = [
    ("How do I reset my password?", "How can I reset my password?", 1),  # true hit
    ("What is 2+2?", "What is 2+3?", 0),  # above threshold, vetoed by numbers
    ("How do I reset my password?", "Tell me a joke", 0),  # false hit (no guard fires)
    ("Tell me a joke", "Make me laugh", 1),  # missed: below threshold
    ("Is the sky blue?", "Is the sky not blue?", 0),  # vetoed by negation
    ("Name a color", "Name a colour", 1),  # true hit
]


@pytest.fixture()
def pairs_file(tmp_path: Path) -> Path:
    """The six pairs above as JSON Lines, with a blank line and mixed label types."""
    path = tmp_path / "pairs.jsonl"
    lines = [
        json.dumps({"q1": a, "q2": b, "label": bool(y) if i % 2 else y})
        for i, (a, b, y) in enumerate(PAIRS)
    ]
    path.write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n")
    return path


async def test_exact_counts(pairs_file: Path) -> None:
    """Each pair lands in the expected cell; rates follow from the counts."""
    report = await evaluate_pairs_async(
        pairs_file, SemanticSettings(threshold=0.9), embedder=table_embedder(VECTORS)
    )
    assert (report.pairs, report.positives, report.negatives) == (6, 3, 3)
    assert (report.true_hits, report.false_hits, report.missed, report.correct_rejects) == (
        2, 1, 1, 2,
    )  # fmt: skip
    assert report.rejected_by == {"numbers": 1, "negation": 1}
    assert report.precision == pytest.approx(2 / 3)
    assert report.hit_rate == pytest.approx(2 / 3)
    assert report.false_hit_rate == pytest.approx(1 / 3)
    assert [e.q2 for e in report.false_hit_examples] == ["Tell me a joke"]
    assert [e.q2 for e in report.missed_examples] == ["Make me laugh"]


async def test_without_guards_near_misses_are_false_hits(pairs_file: Path) -> None:
    """With the guards off, the two vetoed near misses become false hits."""
    report = await evaluate_pairs_async(
        pairs_file, SemanticSettings(threshold=0.9, guards=()), embedder=table_embedder(VECTORS)
    )
    assert (report.true_hits, report.false_hits) == (2, 3)
    point = next(p for p in report.sweep if p.threshold == 0.9)
    assert point.false_hit_rate == pytest.approx(1.0)
    assert point.false_hit_rate_no_guards == pytest.approx(1.0)


async def test_sweep_covers_thresholds(pairs_file: Path) -> None:
    """The sweep shows, per threshold, the guarded and unguarded figures."""
    report = await evaluate_pairs_async(
        pairs_file, SemanticSettings(threshold=0.9), embedder=table_embedder(VECTORS)
    )
    by_t = {p.threshold: p for p in report.sweep}
    assert by_t[0.96].precision is None and by_t[0.96].hit_rate == 0.0
    assert by_t[0.70].precision_no_guards == pytest.approx(2 / 5)
    assert "precision" in report.render()


def test_sync_entry_and_cli(pairs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The sync wrapper and the module's main run the local model on the file."""
    report = evaluate_pairs(pairs_file, SemanticSettings(threshold=0.99))
    assert report.pairs == 6
    assert main([str(pairs_file), "--json", "--threshold", "0.99"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pairs"] == 6 and out["threshold"] == 0.99


def test_bad_lines_name_their_line(tmp_path: Path) -> None:
    """A malformed line is reported with its line number."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"q1": "a", "q2": "b", "label": 1}\n{"q1": "a", "label": 2}\n')
    with pytest.raises(ValueError, match=":2:"):
        load_pairs(path)


async def test_the_very_same_question_is_a_hit_at_the_strictest_budget(
    tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    """eval judges an identical pair as a live lookup does (certain): a hit even where
    the network's own ~0.96 is below the bar."""
    from lockgate.cache.semantic.verifier import load_verifier

    strictest = load_verifier().calibration[0][0]
    path = tmp_path / "same.jsonl"
    text = "How can I reset my password?"
    path.write_text(json.dumps({"q1": text, "q2": text, "label": 1}) + "\n")
    report = await evaluate_pairs_async(
        path, SemanticSettings(max_false_hit_rate=strictest), embedder=local_embedder
    )
    assert report.mode == "verifier" and (report.true_hits, report.missed) == (1, 0)
