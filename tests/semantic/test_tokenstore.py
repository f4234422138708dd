"""The compact store of candidates' token vectors: fidelity, byte bound, LRU order."""

from __future__ import annotations

import numpy as np

from lockgate.cache.semantic.embedder import LocalEmbedder, TokenVectors
from lockgate.cache.semantic.guards import extract_features
from lockgate.cache.semantic.tokenstore import TokenStore, entry_bytes
from lockgate.cache.semantic.verifier import differing_words, load_verifier, pair_features


def _unit_rows(rng: np.random.Generator, n: int, dim: int = 384) -> np.ndarray:
    m = rng.standard_normal((n, dim)).astype(np.float32)
    out: np.ndarray = m / np.linalg.norm(m, axis=1, keepdims=True)
    return out


def test_vectors_come_back_unit_length_and_nearly_the_same() -> None:
    rng = np.random.default_rng(3)
    tv = TokenVectors(_unit_rows(rng, 1)[0], _unit_rows(rng, 17))
    store = TokenStore(1 << 20)
    store.put("a", tv)
    got = store.get("a")
    assert got is not None and got.tokens.shape == (17, 384) and got.tokens.dtype == np.float32
    assert np.allclose(np.linalg.norm(got.tokens, axis=1), 1.0, atol=1e-5)
    agreement = np.sum(got.tokens * tv.tokens, axis=1)
    assert agreement.min() > 0.999 and not np.array_equal(got.tokens, tv.tokens)
    assert float(got.sentence @ tv.sentence) > 0.9999
    assert store.nbytes == entry_bytes(17) < tv.tokens.nbytes / 3
    assert store.get("b") is None


def test_the_byte_bound_evicts_the_least_recently_used() -> None:
    rng = np.random.default_rng(4)
    one = entry_bytes(10)
    store = TokenStore(3 * one)
    for name in "abc":
        store.put(name, TokenVectors(_unit_rows(rng, 1)[0], _unit_rows(rng, 10)))
    assert store.get("a") is not None  # now the most recent
    store.put("d", TokenVectors(_unit_rows(rng, 1)[0], _unit_rows(rng, 10)))
    assert "b" not in store and {"a", "c", "d"} <= {t for t in "abcd" if t in store}
    assert len(store) == 3 and store.nbytes == 3 * one
    store.put("d", TokenVectors(_unit_rows(rng, 1)[0], _unit_rows(rng, 10)))  # replaced
    assert len(store) == 3 and store.nbytes == 3 * one
    store.clear()
    assert len(store) == 0 and store.nbytes == 0


def test_kept_vectors_give_the_verifier_the_same_verdicts(local_embedder: LocalEmbedder) -> None:
    """The shipped verifier on stored (int8) candidate vectors vs the exact ones."""
    pairs = [
        ("How do I reset my password?", "How can I reset my password?"),
        ("Flights from Paris to Rome", "Flights from Rome to Paris"),
        ("Does the hotel allow pets?", "Does the hotel allow dogs?"),
        ("How do I cancel my subscription?", "How do I cancel my subscription today?"),
        ("Is the museum open on Sundays?", "Is the museum open on Mondays?"),
        ("What is the capital of France?", "What's the capital city of France?"),
    ]
    verifier = load_verifier()
    point = verifier.operating_point(0.01)
    texts = sorted({t for p in pairs for t in p})
    vecs = dict(zip(texts, local_embedder.embed_tokens_sync(texts), strict=True))
    store = TokenStore(1 << 20)
    for t in texts:
        store.put(t, vecs[t])
    exact, kept = [], []
    for q, c in pairs:
        fq, fc = extract_features(q), extract_features(c)
        stored = store.get(c)
        assert stored is not None
        exact.append(pair_features(vecs[q], fq, vecs[c], fc))
        kept.append(pair_features(vecs[q], fq, stored, fc))
    differing = np.asarray(
        [differing_words(extract_features(q), extract_features(c)) for q, c in pairs]
    )
    a, b = np.stack(exact), np.stack(kept)
    assert np.abs(a - b).max() < 0.02
    assert np.abs(verifier.probability(a) - verifier.probability(b)).max() < 0.02
    assert (verifier.accepts(a, differing, point) == verifier.accepts(b, differing, point)).all()
