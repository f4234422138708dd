"""The learned verifier: shipped weights, features, verdicts, and failure as a miss."""

from __future__ import annotations

import json
import logging
from importlib import resources

import numpy as np
import pytest
from tests.semantic.test_stage import Upstream, chat, ctx, text_of

from lockgate.cache.semantic.embedder import LocalEmbedder
from lockgate.cache.semantic.guards import extract_features
from lockgate.cache.semantic.index import MemoryIndex
from lockgate.cache.semantic.partition import SemanticQuery
from lockgate.cache.semantic.semantic_cache import SemanticCache, SemanticSettings
from lockgate.cache.semantic.stage import NOTES_KEY, SemanticCacheStage
from lockgate.cache.semantic.verifier import (
    FEATURE_NAMES,
    OperatingPoint,
    Verifier,
    VerifierError,
    differing_words,
    load_verifier,
    pair_features,
)
from lockgate.pipeline import Pipeline

NOW = 1_800_000_000.0


def shipped_spec() -> dict:
    text = resources.files("lockgate.cache.semantic").joinpath("verifier.json").read_text()
    return json.loads(text)


def test_shipped_weights_are_small_and_consistent() -> None:
    """The package carries a few kB of weights whose calibration tightens as the budget shrinks."""
    spec = shipped_spec()
    assert len(json.dumps(spec)) < 64_000
    v = load_verifier()
    assert v.kind in ("logistic", "mlp")
    points = [v.operating_point(b) for b, *_ in v.calibration]
    bars = [p.accept for p in points]
    assert bars == sorted(bars, reverse=True)  # bigger budget, lower bar
    assert v.regime is not None  # rewordings are judged on cosine, with their own bar
    reworded = [p.accept_reworded for p in points]
    assert None not in reworded and reworded == sorted(reworded, reverse=True)  # type: ignore[type-var]
    assert v.operating_point(0.0) == points[0]  # below the table: the strictest point
    assert v.operating_point(1.0) == points[-1]
    assert set(v.vetoes) <= {"numbers", "units", "negation", "opposites", "question"}
    # one set of weights per local backend, each trained on that backend's vectors
    assert v.backend == "onnx-int8"
    assert load_verifier(backend="onnx").backend == "onnx"
    assert load_verifier(backend="numpy").backend == "onnx"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(features=["cosine"]), "other features"),
        (lambda s: s.update(kind="forest"), "unsupported"),
        (lambda s: s.pop("layers"), "malformed"),
        (lambda s: s.update(mean=[0.0]), "mean/scale"),
        (lambda s: s.update(vetoes=["spelling"]), "unknown veto"),
        (lambda s: s["layers"].pop(), "one logit"),
        (lambda s: s.update(calibration=[[0.01, 0.5]]), "calibration rows need 3"),
        (lambda s: s.update(regime={"min_jaccard": 0.7}), "malformed"),
    ],
)
def test_malformed_weights_are_refused_at_load(change, message) -> None:
    """Bad weights fail loudly when the gateway starts, not on a lookup."""
    spec = shipped_spec()
    change(spec)
    with pytest.raises(VerifierError, match=message):
        Verifier(spec)


def test_not_json_is_refused() -> None:
    with pytest.raises(VerifierError, match="not JSON"):
        load_verifier("{")
    with pytest.raises(VerifierError, match="object"):
        load_verifier("[]")


@pytest.mark.parametrize(
    ("cached", "asked", "same"),
    [
        ("How do I reset my password?", "How can I reset my password?", True),
        ("How do I cancel my subscription?", "How can I cancel my subscription?", True),
        ("Translate hello from English to French", "Translate hello from French to English", False),
        ("What is 2+2?", "What is 2+3?", False),
        ("Is 20°C warm?", "Is 20°F warm?", False),
        ("How many days are in 3 weeks?", "How many days are in 4 weeks?", False),
    ],
)
def test_verdicts_at_the_default_budget(
    local_embedder: LocalEmbedder, cached: str, asked: str, same: bool
) -> None:
    """Paraphrases pass; swapped roles, other numbers and other units do not."""
    v = load_verifier()
    mine, theirs = local_embedder.embed_tokens_sync([asked, cached])
    row = pair_features(mine, extract_features(asked), theirs, extract_features(cached))
    assert row.shape == (len(FEATURE_NAMES),)
    differing = np.asarray([differing_words(extract_features(asked), extract_features(cached))])
    verdict = v.accepts(row[None, :], differing, v.operating_point(0.01))
    assert bool(verdict[0]) is same


def test_near_copies_are_judged_by_the_model_and_rewordings_by_cosine() -> None:
    """A pair sharing most words is a near copy (the model decides); one sharing few
    is a rewording, accepted on its cosine at the budget's rewording bar."""
    v = load_verifier()
    assert v.regime is not None
    point = v.operating_point(0.01)
    assert point.accept_reworded is not None
    jac = FEATURE_NAMES.index("word_jaccard")
    row = np.zeros((1, len(FEATURE_NAMES)), dtype=np.float32)
    row[0, jac] = 0.2
    for cosine, differing, want in [
        (point.accept_reworded + 0.01, 9, True),  # rewording above its bar
        (point.accept_reworded - 0.01, 9, False),  # rewording below its bar
    ]:
        row[0, 0] = cosine
        probs = np.asarray([0.0])  # the model's view is not asked for a rewording
        assert bool(v.accepts(row, np.asarray([differing]), point, probs)[0]) is want
    row[0, 0] = 0.99
    near = np.asarray([1])  # one word differs: a near copy, so the probability decides
    assert not v.accepts(row, near, point, np.asarray([point.accept - 0.01]))[0]
    assert v.accepts(row, near, point, np.asarray([point.accept]))[0]
    assert not v.accepts(row, near, v.closed(), np.asarray([1.0]))[0]
    row[0, FEATURE_NAMES.index("guard_negation")] = 1.0  # a hard veto beats both tests
    assert not v.accepts(row, np.asarray([9]), point, np.asarray([1.0]))[0]
    strict = point.stricter(OperatingPoint(point.recall, 0.99, 0.5))
    assert strict == OperatingPoint(point.recall, 0.99, point.accept_reworded)


async def test_verified_lookup_serves_a_paraphrase_and_refuses_swapped_roles(
    local_embedder: LocalEmbedder,
) -> None:
    """Through SemanticCache: one batch embeds the candidates, the verifier decides."""
    cache = SemanticCache(local_embedder, MemoryIndex(local_embedder.dim), SemanticSettings(),
                          load_verifier())  # fmt: skip
    part = "p"
    for text in ("How do I reset my password?", "Translate hello from English to French"):
        await cache.store(SemanticQuery(part, text), text.encode(), now=NOW)
    hit = await cache.lookup(SemanticQuery(part, "How can I reset my password?"), now=NOW)
    assert hit.served and hit.payload == b"How do I reset my password?"
    assert hit.probability is not None and hit.probability > 0.79
    miss = await cache.lookup(
        SemanticQuery(part, "Translate hello from French to English"), now=NOW
    )
    assert not miss.served and miss.rejected_by == "verifier" and miss.score > 0.99
    # a stricter bar passed by the caller (a tightened alias) refuses the paraphrase too
    strict = await cache.lookup(
        SemanticQuery(part, "How can I reset my password?"),
        now=NOW,
        accept=OperatingPoint(0.7, 0.999, 0.999),
    )
    assert not strict.served


class BrokenVerifier(Verifier):
    """Weights that load but blow up on use, as a corrupted runtime would."""

    def probability(self, rows):  # type: ignore[no-untyped-def]
        raise FloatingPointError("verifier exploded")


async def test_a_verifier_error_is_a_miss_counted_and_logged_once(
    local_embedder: LocalEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    """Chaos: every lookup's verifier raises; every request is still answered from upstream."""
    cache = SemanticCache(local_embedder, MemoryIndex(local_embedder.dim), SemanticSettings(),
                          BrokenVerifier(shipped_spec()))  # fmt: skip
    stage = SemanticCacheStage(cache, {"fast": SemanticSettings()}, wall_clock=lambda: NOW)
    upstream = Upstream()
    pipeline = Pipeline([stage], upstream)
    caplog.set_level(logging.ERROR, logger="lockgate.semantic_cache")
    answers = []
    for text in ["How do I reset my password?", *["How can I reset my password?"] * 3]:
        c = ctx()
        answers.append(await text_of(await pipeline(c, chat(text))))
    assert answers == ["answer 1", "answer 2", "answer 3", "answer 4"]
    assert c.notes[NOTES_KEY] == {"error": "lookup failed"}
    assert stage.stats.errors == {"lookup:FloatingPointError": 3}
    assert len([r for r in caplog.records if "failed" in r.getMessage()]) == 1


class CountingEmbedder:
    """Wraps the local embedder and counts the texts it embeds with token vectors."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def dim(self) -> int:
        return self.inner.dim

    async def embed(self, texts):  # type: ignore[no-untyped-def]
        return await self.inner.embed(texts)

    async def embed_tokens(self, texts):  # type: ignore[no-untyped-def]
        self.texts += texts
        return await self.inner.embed_tokens(texts)


async def test_a_stored_miss_is_verified_without_embedding_it_again(
    local_embedder: LocalEmbedder,
) -> None:
    """A looked-up question keeps its token vectors: as a candidate it costs no forward pass."""
    emb = CountingEmbedder(local_embedder)
    cache = SemanticCache(emb, MemoryIndex(emb.dim), SemanticSettings(), load_verifier())
    first = SemanticQuery("p", "How do I reset my password?")
    miss = await cache.lookup(first, now=NOW)
    await cache.store(first, b"answer", now=NOW, vector=miss.vector)
    hit = await cache.lookup(SemanticQuery("p", "How can I reset my password?"), now=NOW)
    assert hit.served
    assert emb.texts == ["How do I reset my password?", "How can I reset my password?"]
    # a tiny byte budget keeps only the newest entry: the candidate is embedded again
    cache.tokens.max_bytes = 1
    kept = cache.tokens.get("How do I reset my password?")
    assert kept is not None
    cache.tokens.put("other", kept)
    emb.texts.clear()
    assert (await cache.lookup(SemanticQuery("p", "How can I reset my password?"), now=NOW)).served
    assert emb.texts == ["How can I reset my password?", "How do I reset my password?"]


async def test_only_near_copies_cost_the_candidates_a_forward_pass(
    local_embedder: LocalEmbedder,
) -> None:
    """A rewording is judged on cosine and a vetoed pair is out from the texts alone:
    neither candidate is embedded, even when its token vectors are not cached."""
    emb = CountingEmbedder(local_embedder)
    cache = SemanticCache(emb, MemoryIndex(emb.dim), SemanticSettings(), load_verifier())
    for text in ("How do I cancel my subscription?", "Does the hotel allow pets?"):
        await cache.store(SemanticQuery("p", text), text.encode(), now=NOW)
    cache.tokens.clear()
    asked = "Can you tell me how to cancel my subscription?"
    reworded = await cache.lookup(SemanticQuery("p", asked), now=NOW)
    assert reworded.served and reworded.payload == b"How do I cancel my subscription?"
    assert reworded.probability is None  # the model was not asked
    vetoed = await cache.lookup(SemanticQuery("p", "Does the hotel ban pets?"), now=NOW)
    assert not vetoed.served and vetoed.score > 0.8
    assert emb.texts == [asked, "Does the hotel ban pets?"]


async def test_a_lookup_embeds_at_most_cold_embeds_near_copies(
    local_embedder: LocalEmbedder,
) -> None:
    """Near copies whose token vectors are gone cost one forward pass per lookup at most
    (the most similar first); one left unembedded is not served on its cosine either."""
    emb = CountingEmbedder(local_embedder)
    cache = SemanticCache(emb, MemoryIndex(emb.dim), SemanticSettings(), load_verifier())
    stored = (
        "How do I change my account password?",
        "How can I change my account password now?",
        "How can I change my user account password?",
    )
    for text in stored:
        await cache.store(SemanticQuery("p", text), text.encode(), now=NOW)
    query = SemanticQuery("p", "How can I change my account password?")
    ranked = await cache.index.search("p", (await emb.embed([query.text]))[0], k=3, now=NOW)
    assert {c.text for c in ranked} == set(stored)
    cache.tokens.clear()
    first = await cache.lookup(query, now=NOW)
    assert first.served
    assert emb.texts == [query.text, ranked[0].text]
    emb.texts.clear()
    cache.tokens.clear()
    cache.cold_embeds = 0
    none = await cache.lookup(query, now=NOW)
    assert not none.served and none.score > 0.9 and emb.texts == [query.text]


def test_rewordings_can_be_judged_on_token_alignment() -> None:
    """Weights with ``reworded_by: align`` judge a rewording on the mean best token match
    (both ways) instead of the sentence cosine, and so need the pair's token vectors."""
    spec = shipped_spec()
    spec["regime"] = {**spec["regime"], "reworded_by": "align"}
    spec["calibration"] = [[0.01, 0.5, 0.8]]
    verifier = Verifier(spec)
    point = verifier.operating_point(0.01)
    rows = np.zeros((2, len(FEATURE_NAMES)), dtype=np.float32)
    rows[:, 0] = 0.95  # cosine: above the recall floor and 0.8
    rows[:, FEATURE_NAMES.index("word_jaccard")] = 0.1  # a rewording
    rows[:, FEATURE_NAMES.index("align_mean_a")] = [0.9, 0.7]
    rows[:, FEATURE_NAMES.index("align_mean_b")] = [0.8, 0.8]
    differing = np.asarray([8, 8])
    assert verifier.accepts(rows, differing, point).tolist() == [True, False]
    fa, fb = extract_features("How do I cancel?"), extract_features("I want to end it, how?")
    assert verifier.needs_model(fa, fb, point)
    assert not load_verifier().needs_model(fa, fb, load_verifier().operating_point(0.01))
    spec["regime"]["reworded_by"] = "bm25"
    with pytest.raises(VerifierError, match="rewording score"):
        Verifier(spec)


async def test_the_same_question_is_served_even_at_the_strictest_point(
    local_embedder: LocalEmbedder,
) -> None:
    """The network scores an identical pair below the strictest calibrated bar; the very
    same text in the same partition is certain, so it is served at any calibrated point
    (and still not when the alias is closed)."""
    verifier = load_verifier()
    cache = SemanticCache(
        local_embedder, MemoryIndex(local_embedder.dim), SemanticSettings(), verifier
    )
    text = "How can I reset my password?"
    miss = await cache.lookup(SemanticQuery("p", text), now=NOW)
    await cache.store(SemanticQuery("p", text), b"answer", now=NOW, vector=miss.vector)
    strictest = verifier.operating_point(verifier.calibration[0][0])
    hit = await cache.lookup(SemanticQuery("p", text), now=NOW, accept=strictest)
    assert hit.served and hit.payload == b"answer" and hit.probability == 1.0
    closed = await cache.lookup(SemanticQuery("p", text), now=NOW, accept=verifier.closed())
    assert not closed.served
