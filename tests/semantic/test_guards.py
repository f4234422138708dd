"""Near-miss guards: what they veto and what they let through."""

from __future__ import annotations

import pytest

from lockgate.cache.semantic.guards import GUARDS, extract_features, near_miss


def veto(a: str, b: str) -> str | None:
    """The guard that tells a from b apart, checked both ways round."""
    fa, fb = extract_features(a), extract_features(b)
    forward, backward = near_miss(fa, fb), near_miss(fb, fa)
    assert forward == backward
    return forward


@pytest.mark.parametrize(
    ("a", "b", "guard"),
    [
        ("What is 2+2?", "What is 2+3?", "numbers"),
        ("What is 2+3?", "What is 2*3?", "numbers"),
        ("Give me three examples", "Give me five examples", "numbers"),
        ("Is 1,000 a lot?", "Is 1000.5 a lot?", "numbers"),
        ("How do I enable X", "How do I disable X", "opposites"),
        ("How do I install numpy?", "How do I uninstall numpy?", "opposites"),
        ("Sort the list ascending", "Sort the list descending", "opposites"),
        ("Should I water succulents often?", "Should I water succulents rarely?", "opposites"),
        ("Is it safe", "Is it not safe", "negation"),
        ("Why does the build pass?", "Why doesn't the build pass?", "negation"),
        ("How do I zoom in on a PDF?", "How do I zoom out on a PDF?", "opposites"),
        ("Does Alice owe Bob money?", "Does Bob owe Alice money?", "order"),
        (
            "Translate this from English to French.",
            "Translate this from French to English.",
            "order",
        ),
        ("Is a tomato a fruit or a vegetable?", "Is a vegetable a fruit or a tomato?", "order"),
        ("How do I boil rice?", "How do I fry rice?", "substitution"),
        (
            "Is the museum free for children?",
            "Is the museum free for seniors?",
            "substitution",
        ),
        ("What's the weather today?", "What's the weather tomorrow?", "exclusive"),
        ("Why is the sky blue?", "When is the sky blue?", "question"),
        ("Does the hotel allow pets?", "Does the hotel ban pets?", "opposites"),
        ("What is the capital of France?", "What is the capital of Germany?", "entities"),
        ('Set "timeout" in the config', 'Set "retries" in the config', "entities"),
        ("Explain the config.yaml file", "Explain the settings.yaml file", "entities"),
        ("Convert 5 km into miles", "Convert 5 miles to km", "units"),
        ("How far is 10 km?", "How far is 10 mi?", "units"),
        ("Wie spät ist es in Berlin?", "What time is it in Berlin?", "language"),
        ("Что такое Python?", "What is Python?", "language"),
    ],
)
def test_near_misses_are_vetoed(a: str, b: str, guard: str) -> None:
    """Pairs that differ in one decisive detail are told apart by the expected guard."""
    assert veto(a, b) == guard


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I reset my password?", "What is the procedure to change my password?"),
        ("How do I install Python?", "how to install python"),
        ("What is 2 + 2?", "What is 2+2?"),
        ("What does HTTP 404 mean?", "What is the meaning of the HTTP status 404?"),
        ("Tell me about Paris.", "tell me about paris"),
        ("Why isn't my build passing?", "Why does my build not pass?"),
        ("Give me 3 examples", "Give me three examples"),
        ("How do I turn on dark mode?", "How can I enable dark mode?"),
        ("What is 25% of 80?", "Calculate 25 percent of 80."),
        ("What causes earthquakes?", "Why do earthquakes happen?"),
        ("Suggest 3 names for a bakery.", "Suggest three names for a bakery."),
        ("Why doesn't my laptop turn on?", "Why won't my laptop turn on?"),
        ("What is the plural of 'cactus'?", "What's the plural form of 'cactus'?"),
        ("Pick a color for the logo", "Pick a colour for the logo"),
        ("Can I pay with PayPal?", "Is PayPal accepted as a payment method?"),
    ],
)
def test_paraphrases_pass(a: str, b: str) -> None:
    """Paraphrases that keep every decisive detail are not vetoed."""
    assert veto(a, b) is None


def test_guards_can_be_disabled() -> None:
    """Only the enabled guards are consulted."""
    a, b = extract_features("What is 2+2?"), extract_features("What is 2+3?")
    assert near_miss(a, b, ()) is None
    assert near_miss(a, b, ["negation", "opposites"]) is None
    assert near_miss(a, b, GUARDS) == "numbers"


def test_negations_are_counted_not_just_present() -> None:
    """Both texts negate something, but not the same number of things: different questions."""
    a = extract_features("I don't think he isn't coming")
    b = extract_features("I don't think he is coming")
    assert (a.negations, b.negations) == (2, 1)
    assert near_miss(a, b, ["negation"]) == "negation"
    same = extract_features("Why does it not work?"), extract_features("Why doesn't it work?")
    assert near_miss(*same, ["negation"]) is None
