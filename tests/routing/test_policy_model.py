"""The router's pure parts: the share policy, the shipped model, and prompt text."""

from __future__ import annotations

import random

import numpy as np
import pytest

from lockgate.routing.model import RouterModel
from lockgate.routing.policy import SharePolicy
from lockgate.routing.stage import prompt_text


def test_fixed_threshold_before_warmup_and_without_a_target() -> None:
    """With no target share the prior threshold decides, whatever the traffic."""
    policy = SharePolicy(prior=0.5)
    decisions = [policy.decide(s) for s in (0.1, 0.6, 0.5, 0.9)]
    assert [d.strong for d in decisions] == [False, True, False, True]
    assert all(d.threshold == 0.5 for d in decisions)


@pytest.mark.parametrize("target", [0.2, 0.4, 0.65])
def test_target_share_is_held_on_shifted_traffic(target: float) -> None:
    """The live threshold follows the traffic: scores shifted far from the prior still
    give the target share (within 3 points over 5,000 requests)."""
    rng = random.Random(3)
    policy = SharePolicy(prior=-10.0, target_share=target, window=1000)
    strong = [policy.decide(rng.gauss(5.0, 2.0)).strong for _ in range(5000)]
    realised = sum(strong[1000:]) / 4000
    assert abs(realised - target) < 0.03
    assert abs(policy.realised_share - target) < 0.05


def test_window_forgets_old_scores() -> None:
    """After the traffic moves, the threshold moves with it once the window has turned."""
    policy = SharePolicy(prior=0.0, target_share=0.5, window=100, warmup=10)
    for i in range(100):
        policy.decide(i / 100)
    assert 0.4 < policy.threshold() < 0.6
    for i in range(100):
        policy.decide(10 + i / 100)
    assert 10.4 < policy.threshold() < 10.6


def test_shipped_model_loads_and_orders_floors() -> None:
    """The shipped weights load; a higher quality floor never lowers the threshold's
    strictness (more strong calls), and share priors are monotone."""
    model = RouterModel.load()
    assert model.dim == 384
    t90, t95, t99 = (model.threshold_for_floor(f) for f in (0.90, 0.95, 0.99))
    assert t90 > t95 > t99
    assert t95 == pytest.approx(0.05)  # one scale: the strong model's quality lost
    assert (np.diff(model.loss, axis=1) > 0).all() and (np.diff(model.knots, axis=1) > 0).all()
    assert model.threshold_for_share(0.2) >= model.threshold_for_share(0.6)
    vec = np.zeros(384, dtype=np.float32)
    assert model.score(vec, "hi") == model.score(vec, "hi")


def test_prompt_text_takes_the_last_user_turn() -> None:
    """Text parts are joined; system and assistant turns are ignored."""
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image_url"},
                {"type": "text", "text": "b"},
            ],
        },
    ]
    assert prompt_text(msgs) == "a\nb"
    assert prompt_text([{"role": "system", "content": "x"}]) == ""


def test_multiple_choice_prompts_use_their_own_branch() -> None:
    """Lettered options pick the multiple-choice branch; the feature vector has the
    length the shipped weights expect."""
    from lockgate.routing.features import N_TEXT_FEATURES, is_multiple_choice, text_features

    mc = "Which of these is a noble gas?\nA. Oxygen\nB. Argon\nC. Nitrogen\nD. Carbon\nAnswer:"
    word = "Tom has 3 apples and buys twice as many. How many apples does he have now?"
    assert is_multiple_choice(mc) and not is_multiple_choice(word)
    assert len(text_features(mc)) == len(text_features(word)) == N_TEXT_FEATURES
    assert len(text_features("")) == N_TEXT_FEATURES
    assert text_features("9" * 500)[20] == 2.0  # a huge number stays bounded
    model = RouterModel.load()
    vec = np.zeros(384, dtype=np.float32)
    assert model.raw(vec, mc)[0] == 0 and model.raw(vec, word)[0] == 1


def test_quality_loss_scale_is_strictly_increasing_beyond_the_knots() -> None:
    """Raw scores below the lowest or above the highest training score still order
    (no ties at 0 or 1 a share policy could not split)."""
    from lockgate.routing.model import quality_loss

    knots = np.array([-2.0, -1.0, 0.0, 2.0], dtype=np.float32)
    loss = np.array([0.0, 0.01, 0.05, 0.2], dtype=np.float32)
    values = [quality_loss(knots, loss, r) for r in (-5.0, -2.0, -1.5, 0.0, 1.0, 2.0, 7.0)]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert values[1] == 0.0 and values[3] == pytest.approx(0.05)
    assert values[0] < 0.0 and values[6] > 0.2


def test_a_branch_of_members_scores_the_sum_of_their_percentiles() -> None:
    """With member arrays, the other branch's raw score is the sum of each linear
    member's training percentile (through its knots, extended linearly beyond them);
    the multiple-choice branch keeps its own row."""
    from dataclasses import replace

    from lockgate.routing.features import N_TEXT_FEATURES, text_features
    from lockgate.routing.model import quality_loss

    base = RouterModel.load()
    rng = np.random.default_rng(1)
    dim = base.dim + N_TEXT_FEATURES
    coef = rng.normal(size=(2, dim)).astype(np.float32)
    icpt = np.array([0.5, -0.25], dtype=np.float32)
    knots = np.sort(rng.normal(size=(2, 21)), axis=1).astype(np.float32)
    model = replace(
        base,
        member_branch=np.array([1, 1]),
        member_coef=coef,
        member_intercept=icpt,
        member_knots=knots,
    )
    vec = rng.normal(size=base.dim).astype(np.float32)
    word = "Tom has 3 apples and buys twice as many. How many apples does he have now?"
    x = np.concatenate([vec, np.asarray(text_features(word), np.float32)])
    grid = np.linspace(0.0, 1.0, 21, dtype=np.float32)
    want = sum(quality_loss(knots[i], grid, float(coef[i] @ x + icpt[i])) for i in (0, 1))
    assert model.raw(vec, word) == (1, pytest.approx(want, rel=1e-5))
    mc = "Which of these is a noble gas?\nA. Oxygen\nB. Argon\nC. Nitrogen\nD. Carbon\nAnswer:"
    assert model.raw(vec, mc) == base.raw(vec, mc)
