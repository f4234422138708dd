"""The semantic cache's learned verifier, its chaos behaviour and live false-hit estimate, live."""

from __future__ import annotations

import itertools
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.conftest import model_list
from tests.fakes.faults import Fault
from tests.support import bearer

PATH = "/v1/chat/completions"
ALIAS = "gpt-4o-mini"


def bars_of(gw) -> tuple[float | None, float | None]:
    """The alias's two bars now: a near copy's probability, a rewording's cosine."""
    return (
        metric(gw, "lockgate_semantic_accept_threshold", alias=ALIAS),
        metric(gw, "lockgate_semantic_accept_reworded_threshold", alias=ALIAS),
    )


def ask(gw, text, **headers: str):
    body = {"model": ALIAS, "temperature": 0, "messages": [{"role": "user", "content": text}]}
    return httpx.post(
        gw.v1 + "/chat/completions", json=body, headers=bearer() | headers, timeout=60
    )


def samples(gw) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every lockgate_semantic_* sample on /metrics, keyed by name and sorted labels."""
    text = httpx.get(gw.url + "/metrics", headers=bearer(), timeout=30).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("lockgate_semantic"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metric(gw, name: str, **labels: str) -> float | None:
    return samples(gw).get((name, tuple(sorted(labels.items()))))


def wait_for(gw, name: str, value: float, **labels: str) -> None:
    """Poll /metrics (bounded: 100 tries over about 10 s) until ``name`` reaches ``value``."""
    for _ in range(100):
        if (metric(gw, name, **labels) or 0.0) >= value:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name}{labels} never reached {value}: {samples(gw)}")


def test_lookup_errors_are_misses_never_failed_requests(gateway_factory, fake):
    """Chaos: the embedder's upstream fails on every call; every request still gets its answer."""
    gw = gateway_factory(
        model_list(fake),
        cache={"mode": "off"},
        semantic_cache={
            "embedder": "gateway",
            "embedding_model": ALIAS,
            "embedding_dim": 8,
            "aliases": {ALIAS: {}},
        },
    )
    fake.push_fault(Fault.error(500, path="/v1/embeddings"), times=None)
    for text in ("What is the capital city of France?", "What's the capital city of France?"):
        r = ask(gw, text)
        assert r.status_code == 200, r.text
        assert r.headers["x-lockgate-cache"] == "bypass"
        assert r.json()["choices"][0]["message"]["content"] == f"echo: {text}"
    errors = {labels: v for (name, labels), v in samples(gw).items() if "errors" in name and v > 0}
    assert errors, "the failures were not counted"
    assert all(dict(labels)["where"] in ("lookup", "store") for labels in errors)


def test_degree_signs_do_not_crash_a_lookup(gateway_factory, fake):
    """°C / °F used to raise KeyError in the guard features; now a near miss is just a miss."""
    gw = gateway_factory(
        model_list(fake), cache={"mode": "off"}, semantic_cache={"aliases": {ALIAS: {}}}
    )
    assert ask(gw, "Is 20°C warm enough for a swim?").status_code == 200
    r = ask(gw, "Is 20°F warm enough for a swim?")
    assert r.status_code == 200
    assert r.headers["x-lockgate-cache"] == "bypass"  # exact cache off, no semantic hit
    assert r.json()["choices"][0]["message"]["content"] == "echo: Is 20°F warm enough for a swim?"
    assert not any(v for (name, _), v in samples(gw).items() if "errors" in name)


def test_live_false_hit_estimate_and_tightening(gateway_factory, fake):
    """Every served hit is re-asked upstream; wrong ones raise the bar until nothing is served.

    The fake answers two wordings of "reset my password" differently (the
    cached answer is wrong for the second) and two wordings of the capital
    question alike. The estimate is exported with its interval; each wrong
    hit tightens the alias one calibrated step, and three of them leave a 1%
    budget stricter than any calibrated point: the paraphrase is a miss.
    """
    cached, asked = "How do I reset my password?", "How can I reset my password?"
    fake.answers.update(
        {
            "What is the capital city of France?": "Paris is the capital of France.",
            "What is the capital of France?": "Paris is the capital of France.",
            cached: "Open Settings, then Security, and click Reset.",
            asked: "Use the forgot-password link on the login page.",
        }
    )
    gw = gateway_factory(
        model_list(fake),
        cache={"mode": "off"},
        semantic_cache={"verify_sample_rate": 1.0, "aliases": {ALIAS: {}}},
    )
    bars = [bars_of(gw)]
    assert None not in bars[0]

    ask(gw, "What is the capital city of France?")
    hit = ask(gw, "What is the capital of France?")
    assert hit.headers["x-lockgate-cache"].startswith("semantic-hit")
    wait_for(gw, "lockgate_semantic_verified_hits_total", 1, alias=ALIAS, outcome="right")
    assert metric(gw, "lockgate_semantic_false_hit_rate", alias=ALIAS, bound="estimate") == 0.0
    assert metric(gw, "lockgate_semantic_tightenings_total", alias=ALIAS) == 0

    ask(gw, cached)
    for wrong in range(1, 4):
        r = ask(gw, asked)
        assert r.headers["x-lockgate-cache"].startswith("semantic-hit")
        # The client got the cached answer at once; the check runs afterwards.
        assert r.json()["choices"][0]["message"]["content"].startswith("Open Settings")
        wait_for(gw, "lockgate_semantic_tightenings_total", wrong, alias=ALIAS)
        bars.append(bars_of(gw))
        if wrong == 1:
            rate = metric(gw, "lockgate_semantic_false_hit_rate", alias=ALIAS, bound="estimate")
            low = metric(gw, "lockgate_semantic_false_hit_rate", alias=ALIAS, bound="lower")
            high = metric(gw, "lockgate_semantic_false_hit_rate", alias=ALIAS, bound="upper")
            assert rate == 0.5  # one right, one wrong
            assert low is not None and high is not None and 0.0 < low < rate < high < 1.0
    assert metric(gw, "lockgate_semantic_verified_hits_total", alias=ALIAS, outcome="wrong") == 3
    # no step lowers a bar, and they rise (a calibration may keep one or both of them
    # over adjacent budgets); the last closes the alias
    for before, after in itertools.pairwise(bars):
        assert all(b <= a for b, a in zip(before, after, strict=True))
    assert bars[1] != bars[0]
    assert bars[3] == (float("inf"), float("inf")) != bars[2]

    after = ask(gw, asked)
    assert after.headers["x-lockgate-cache"] == "bypass"  # exact cache off, no semantic hit
    assert after.json()["choices"][0]["message"]["content"].startswith("Use the forgot")
    # 2 stored misses + 4 verifications + the final miss
    assert len(fake.requests_to(PATH)) == 7


def test_a_judge_alias_decides_when_configured(gateway_factory, fake):
    """judge_model: the alias is asked "same or different?"; its verdict is the outcome."""
    from lockgate.cache.semantic.stage import judge_prompt

    pairs = [
        ("How do I reset my password?", "How can I reset my password?", "different"),
        ("How do I cancel my subscription?", "How can I cancel my subscription?", "same"),
        ("How do I bake bread at home?", "How can I bake bread at home?", "no idea"),
    ]
    for i, (cached, asked, verdict) in enumerate(pairs):
        fake.answers[cached] = f"cached answer {i}"
        fake.answers[asked] = f"fresh answer {i}"
        fake.answers[judge_prompt(asked, f"cached answer {i}", f"fresh answer {i}")] = verdict
    gw = gateway_factory(
        model_list(fake),
        cache={"mode": "off"},
        semantic_cache={
            "verify_sample_rate": 1.0,
            "judge_model": ALIAS,
            "aliases": {ALIAS: {}},
        },
    )
    for cached, asked, _ in pairs:
        ask(gw, cached)
        assert ask(gw, asked).headers["x-lockgate-cache"].startswith("semantic-hit")
    wait_for(gw, "lockgate_semantic_verified_hits_total", 1, alias=ALIAS, outcome="error")
    wait_for(gw, "lockgate_semantic_verified_hits_total", 1, alias=ALIAS, outcome="right")
    wait_for(gw, "lockgate_semantic_verified_hits_total", 1, alias=ALIAS, outcome="wrong")
    assert metric(gw, "lockgate_semantic_errors_total", where="verify", error="ValueError") == 1


def test_shadow_mode_estimates_the_false_hit_rate_without_extra_calls(gateway_factory, fake):
    """In shadow mode the would-be hit is compared with the answer upstream gave anyway."""
    fake.answers.update(
        {
            "How do I reset my password?": "Open Settings, then Security, and click Reset.",
            "How can I reset my password?": "Use the forgot-password link on the login page.",
        }
    )
    gw = gateway_factory(
        model_list(fake),
        cache={"mode": "off"},
        semantic_cache={"verify_sample_rate": 1.0, "aliases": {ALIAS: {"shadow": True}}},
    )
    ask(gw, "How do I reset my password?")
    r = ask(gw, "How can I reset my password?")
    assert r.json()["choices"][0]["message"]["content"].startswith("Use the forgot")
    wait_for(gw, "lockgate_semantic_verified_hits_total", 1, alias=ALIAS, outcome="wrong")
    assert len(fake.requests_to(PATH)) == 2  # no call beyond the two the clients made


def test_a_closed_alias_reopens_after_enough_clean_unserved_comparisons(gateway_factory, fake):
    """Tightened until nothing is served, the alias keeps comparing its marginal
    candidate with the answer upstream gives anyway; once the 95% bound of those
    comparisons is within the budget, the strictest calibrated point is back."""
    from lockgate.cache.semantic.live import wilson_interval

    cached, asked = "How do I reset my password?", "How can I reset my password?"
    right_answer = "Open Settings, then Security, and click Reset."
    fake.answers.update({cached: right_answer, asked: "Use the forgot-password link."})
    gw = gateway_factory(
        model_list(fake),
        cache={"mode": "off"},
        semantic_cache={"verify_sample_rate": 1.0, "aliases": {ALIAS: {}}},
    )
    ask(gw, cached)
    for wrong in range(1, 4):
        assert ask(gw, asked).headers["x-lockgate-cache"].startswith("semantic-hit")
        wait_for(gw, "lockgate_semantic_tightenings_total", wrong, alias=ALIAS)
    assert metric(gw, "lockgate_semantic_accept_threshold", alias=ALIAS) == float("inf")

    # From now on upstream agrees with the cached answer.
    fake.answers[asked] = right_answer
    needed = next(n for n in range(1, 10_000) if wilson_interval(0, n)[1] <= 0.01)
    sent, deadline = 0, time.monotonic() + 180
    while True:
        assert sent < 3 * needed and time.monotonic() < deadline, samples(gw)
        upstream = len(fake.requests_to(PATH))  # before the served hit's own check
        # no-store: the probes keep meeting the cached entry, not copies of themselves
        r = ask(gw, asked, **{"x-lockgate-cache": "no-store"})
        assert r.status_code == 200
        if r.headers["x-lockgate-cache"].startswith("semantic-hit"):
            break  # the strictest calibrated point is back
        assert r.headers["x-lockgate-cache"] == "bypass"
        sent += 1
    # every probing request was a miss answered upstream, and it took the evidence
    assert sent >= needed
    assert upstream == 1 + 3 + sent  # no extra upstream call per probe
    wait_for(gw, "lockgate_semantic_loosenings_total", 1, alias=ALIAS)
    assert metric(gw, "lockgate_semantic_probes", alias=ALIAS, outcome="wrong") == 0
    bar = metric(gw, "lockgate_semantic_accept_threshold", alias=ALIAS)
    assert bar is not None and bar < float("inf")


def test_replicas_sharing_a_redis_index_share_the_live_estimate(gateway_factory, fake, redis_url):
    """Two gateways on one Redis index: a wrong hit verified on B tightens A as well
    (A learns it on a lookup of its own, within its refresh), and both export one count."""
    cached, asked = "How do I reset my password?", "How can I reset my password?"
    fake.answers.update(
        {
            cached: "Open Settings, then Security, and click Reset.",
            asked: "Use the forgot-password link on the login page.",
        }
    )
    section = {"index": redis_url, "verify_sample_rate": 1.0, "aliases": {ALIAS: {}}}
    a = gateway_factory(model_list(fake), cache={"mode": "off"}, semantic_cache=section)
    b = gateway_factory(model_list(fake), cache={"mode": "off"}, semantic_cache=section)
    bar = bars_of(a)
    assert None not in bar

    assert ask(a, cached).headers["x-lockgate-cache"] == "bypass"
    hit = ask(b, asked)  # A's answer, found by B through the shared index
    assert hit.headers["x-lockgate-cache"].startswith("semantic-hit")
    wait_for(b, "lockgate_semantic_tightenings_total", 1, alias=ALIAS)
    assert metric(a, "lockgate_semantic_tightenings_total", alias=ALIAS) is None  # not yet

    for i in range(50):  # bounded: A refreshes on a lookup, at most once a second
        ask(a, f"What is {i} plus {i}?")
        if (metric(a, "lockgate_semantic_tightenings_total", alias=ALIAS) or 0) >= 1:
            break
        time.sleep(0.2)
    assert metric(a, "lockgate_semantic_tightenings_total", alias=ALIAS) == 1
    assert metric(a, "lockgate_semantic_verified_hits_total", alias=ALIAS, outcome="wrong") == 1
    assert metric(a, "lockgate_semantic_false_hit_rate", alias=ALIAS, bound="estimate") == 1.0
    tightened = bars_of(a)
    assert tightened != bar and all(b <= t for b, t in zip(bar, tightened, strict=True))


def key_of(gw, team: str) -> str:
    r = httpx.post(gw.url + "/admin/keys", json={"name": team, "team": team}, headers=bearer())
    assert r.status_code in (200, 201), r.text
    return r.json()["key"]


def test_a_hostile_tenant_cannot_tighten_the_alias_for_another(gateway_factory, fake, redis_url):
    """Two replicas on one Redis index, two tenants. Alice's paraphrase is served and
    verified right on A. Mallory, on B, provokes wrong hits (a cached answer the
    upstream contradicts), in two partitions of hers, until none of hers is served any
    more. The alias is never tightened: after A has read the shared tallies, Alice's
    paraphrases are still served at the alias's own bars."""
    right = "Paris is the capital of France."
    cached, asked = "How do I reset my password?", "How can I reset my password?"
    fake.answers.update(
        {
            "What is the capital city of France?": right,
            "What is the capital of France?": right,
            cached: "Open Settings, then Security, and click Reset.",
            asked: "Use the forgot-password link on the login page.",
        }
    )
    section = {"index": redis_url, "verify_sample_rate": 1.0, "aliases": {ALIAS: {}}}
    a = gateway_factory(model_list(fake), cache={"mode": "off"}, semantic_cache=section)
    b = gateway_factory(model_list(fake), cache={"mode": "off"}, semantic_cache=section)
    alice = {"authorization": f"Bearer {key_of(a, 'alice')}"}
    mallory = {"authorization": f"Bearer {key_of(b, 'mallory')}"}
    bars = bars_of(a)

    def post(gw, headers, text, temperature=0):
        body = {
            "model": ALIAS,
            "temperature": temperature,
            "messages": [{"role": "user", "content": text}],
        }
        return httpx.post(gw.v1 + "/chat/completions", json=body, headers=headers, timeout=60)

    post(a, alice, "What is the capital city of France?")
    assert (
        post(a, alice, "What is the capital of France?")
        .headers["x-lockgate-cache"]
        .startswith("semantic-hit")
    )
    wait_for(a, "lockgate_semantic_verified_hits_total", 1, alias=ALIAS, outcome="right")

    provoked = 0
    for temperature in (0, 0.5):  # two partitions of Mallory's
        post(b, mallory, cached, temperature)
        for _ in range(5):  # bounded: her partition closes after three wrong hits
            r = post(b, mallory, asked, temperature)
            if not r.headers["x-lockgate-cache"].startswith("semantic-hit"):
                break
            provoked += 1
            wait_for(
                b, "lockgate_semantic_verified_hits_total", provoked, alias=ALIAS, outcome="wrong"
            )
        assert r.headers["x-lockgate-cache"] == "bypass"  # her partition: nothing served
    assert provoked == 6
    assert metric(b, "lockgate_semantic_tightenings_total", alias=ALIAS) == 0
    assert bars_of(b) == bars

    # A reads the shared tallies on a lookup, at most once a second: it learns the six
    # wrong hits, and Alice's paraphrase is still served at the alias's own bars.
    for _ in range(50):  # bounded
        assert (
            post(a, alice, "What is the capital of France?")
            .headers["x-lockgate-cache"]
            .startswith("semantic-hit")
        )
        if (
            metric(a, "lockgate_semantic_verified_hits_total", alias=ALIAS, outcome="wrong") or 0
        ) >= 6:
            break
        time.sleep(0.2)
    assert metric(a, "lockgate_semantic_verified_hits_total", alias=ALIAS, outcome="wrong") == 6
    assert (
        post(a, alice, "What is the capital of France?")
        .headers["x-lockgate-cache"]
        .startswith("semantic-hit")
    )
    assert metric(a, "lockgate_semantic_tightenings_total", alias=ALIAS) == 0
    assert bars_of(a) == bars
