"""The answer journal: an upstream answer written by one process is found by the next
(after a SIGKILL), a torn last record is skipped, rotated files go once their lines are
stored, and a dead process's journal goes once stale."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lockgate.batches.journal import AnswerJournal, LineAnswers
from lockgate.chat import ChatResponse, Usage


def answer(text: str) -> ChatResponse:
    body = {"object": "chat.completion", "choices": [{"message": {"content": text}}]}
    return ChatResponse(body, Usage(prompt_tokens=3, completion_tokens=2))


def test_an_answer_written_by_a_dead_process_is_found_by_the_next(tmp_path: Path) -> None:
    dead = AnswerJournal(tmp_path, "A")
    dead.record("batch_1", 7, answer("seven"))
    LineAnswers(dead, "batch_1", 8, rerun=False).record(answer("eight"))
    # A is SIGKILLed: nothing closed, nothing flushed by Python; B starts
    b = AnswerJournal(tmp_path, "B")
    got = LineAnswers(b, "batch_1", 7, rerun=True).recorded()
    assert got is not None and got.text == "seven" and got.usage.completion_tokens == 2
    assert b.has("batch_1", 8) and not b.has("batch_1", 9)
    # a line on its first run never looks (it cannot have been answered before)
    assert LineAnswers(b, "batch_1", 7, rerun=False).recorded() is None
    dead.record("batch_1", 9, answer("nine"))  # written after B's first look: still found
    assert b.has("batch_1", 9)
    LineAnswers(dead, "batch_1", 10, rerun=False).sending()
    b.refresh()
    assert not b.never_left("A", "batch_1", 10) and b.never_left("A", "batch_1", 11)
    assert not b.never_left("Z", "batch_1", 11)  # Z's journal is not here: unsure
    assert b.answered("batch_1", 7) and not b.answered("batch_1", 10)


def test_a_torn_last_record_is_skipped(tmp_path: Path) -> None:
    a = AnswerJournal(tmp_path, "A")
    a.record("b", 1, answer("one"))
    with (tmp_path / "A.0.answers").open("ab") as f:
        f.write(b'{"k": "b:2", "body": {"obj')  # killed mid-write (cannot happen with one write)
    b = AnswerJournal(tmp_path, "B")
    assert b.has("b", 1) and not b.has("b", 2)


def test_rotation_keeps_the_old_file_until_its_lines_are_stored(tmp_path: Path) -> None:
    a = AnswerJournal(tmp_path, "A", rotate_bytes=1)
    a.record("b", 1, answer("one"))
    a.record("b", 2, answer("two"))
    a.rotate_if_big({("b", 2), ("b", 3)})  # 1 stored; 2 answered, unstored; 3 running
    a.record("b", 3, answer("three"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.0.answers", "A.1.answers"]
    a.stored({("b", 3)})  # 2 stored
    assert (tmp_path / "A.0.answers").exists()  # 3 may have been written there first
    a.stored(set())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.1.answers"]
    assert AnswerJournal(tmp_path, "B").has("b", 3)
    a.close(remove=True)  # a clean stop with everything stored
    assert list(tmp_path.iterdir()) == []


def test_a_dead_process_journal_goes_once_stale(tmp_path: Path) -> None:
    AnswerJournal(tmp_path, "A").record("b", 1, answer("one"))
    old = time.time() - 100
    os.utime(tmp_path / "A.0.answers", (old, old))
    b = AnswerJournal(tmp_path, "B", stale_seconds=50)
    assert not b.has("b", 1)
    assert list(tmp_path.iterdir()) == []
