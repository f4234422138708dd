"""Validating feedback on a request (pure): a score, thumbs, and a task-completed flag.

``POST /v1/feedback`` takes::

    {"request_id": "req_...",          # the x-request-id of the answer rated
     "score": 0.8,                     # any finite number on your own scale
     "thumbs": "up",                   # "up" | "down"
     "task_completed": true,
     "comment": "optional, up to 2000 characters",
     "judge_score": 0.9,               # optional: an automated judge's score
     "prompt_version": "v3"}           # optional; else the request's own

At least one of ``score``, ``thumbs``, ``task_completed`` and ``judge_score`` is required.
"""

from __future__ import annotations

import math
from typing import Any

from lockgate.errors import BadRequestError
from lockgate.usage.repository import FeedbackEntry

__all__ = ["MAX_COMMENT", "parse_feedback"]

MAX_COMMENT = 2000
_THUMBS = {"up": "up", "down": "down", "+1": "up", "-1": "down"}


def parse_feedback(body: Any, *, now: float, key_id: str | None) -> FeedbackEntry:
    """A ``FeedbackEntry`` from a request body, or a ``BadRequestError`` naming the field."""
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object.")
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id or len(request_id) > 128:
        raise BadRequestError(
            "'request_id' is required (the answer's x-request-id).", param="request_id"
        )
    score = body.get("score")
    if score is not None:
        if (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or not math.isfinite(score)
        ):
            raise BadRequestError("'score' must be a finite number.", param="score")
        score = float(score)
    thumbs = body.get("thumbs")
    if thumbs is not None:
        if isinstance(thumbs, bool):
            thumbs = "up" if thumbs else "down"
        elif not isinstance(thumbs, str) or thumbs.lower() not in _THUMBS:
            raise BadRequestError("'thumbs' must be 'up' or 'down'.", param="thumbs")
        else:
            thumbs = _THUMBS[thumbs.lower()]
    done = body.get("task_completed")
    if done is not None and not isinstance(done, bool):
        raise BadRequestError("'task_completed' must be true or false.", param="task_completed")
    judge = body.get("judge_score")
    if judge is not None:
        if (
            isinstance(judge, bool)
            or not isinstance(judge, int | float)
            or not math.isfinite(judge)
        ):
            raise BadRequestError("'judge_score' must be a finite number.", param="judge_score")
        judge = float(judge)
    if score is None and thumbs is None and done is None and judge is None:
        raise BadRequestError(
            "Give at least one of 'score', 'thumbs', 'task_completed' or 'judge_score'."
        )
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise BadRequestError(
            f"'comment' must be a string of at most {MAX_COMMENT} characters.", param="comment"
        )
    version = body.get("prompt_version")
    if version is not None and (not isinstance(version, str) or len(version) > 64):
        raise BadRequestError(
            "'prompt_version' must be a string of at most 64 characters.", param="prompt_version"
        )
    return FeedbackEntry(
        request_id=request_id,
        created_at=now,
        key_id=key_id,
        score=score,
        thumbs=thumbs,
        task_completed=done,
        comment=comment,
        prompt_version=version,
        judge_score=judge,
    )
