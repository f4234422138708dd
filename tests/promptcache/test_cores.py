"""The pure cores: cut planning, compression, breakpoint placement, usage and cost."""

from __future__ import annotations

import pytest

from lockgate.chat import Usage, usage_from_openai
from lockgate.contextbudget.compression import (
    compress_anthropic,
    compress_canonical,
    normalise_whitespace,
)
from lockgate.contextbudget.truncation import PromptShape, plan_cut
from lockgate.errors import ContextBudgetError
from lockgate.pricing import Price, cost_of, with_anthropic_cache_rates
from lockgate.token_count import TiktokenCounter
from lockgate.wire.anthropic_stream import AnthropicToChunks
from lockgate.wire.bedrock import chat_to_bedrock
from lockgate.wire.cache_marks import MAX_BREAKPOINTS, mark_anthropic, strip_cache_control


def _chat(turns: int, size: int = 100) -> PromptShape:
    # system, then user/assistant pairs
    return PromptShape(
        tokens=[500] + [size] * (2 * turns),
        system=[True] + [False] * (2 * turns),
        turn_starts=[1 + 2 * i for i in range(turns)],
    )


def test_cut_stays_put_as_the_chat_grows():
    """The grid cut chosen at one turn is the one chosen the next turns, until it moves."""
    cuts = [
        plan_cut(_chat(n), 2000, strategy="truncate_middle", keep_system=True, step=1000)
        for n in range(8, 20)
    ]
    starts = {c.start for c in cuts if c}
    assert starts == {3}  # after the system message and the first exchange
    stops = [c.stop for c in cuts if c]
    assert stops == sorted(stops) and len(set(stops)) < len(stops) / 2


def test_kept_head_holds_the_opening_turns_that_fit_and_stays_cached():
    """head_tokens keeps whole opening turns (never the last two); a cut then leaves the
    system prompt and those turns in place, so the cut request shares them as a prefix."""
    plain = plan_cut(_chat(12), 2000, strategy="truncate_middle", keep_system=True, step=500)
    kept = plan_cut(
        _chat(12), 2000, strategy="truncate_middle", keep_system=True, step=500, head_tokens=1000
    )
    assert plain is not None and plain.start == 3
    assert kept is not None and kept.start == 5  # 500 + two exchanges of 200 fit in 1,000
    assert kept.stop > kept.start and kept.stop <= _chat(12).turn_starts[-1]
    # A kept start that leaves too little to cut falls back to the plain head: a prompt
    # that can fit is never refused because of it.
    huge = plan_cut(
        _chat(12), 2400, strategy="truncate_middle", keep_system=True, step=0, head_tokens=10_000
    )
    assert huge is not None and huge.start == 3


def test_naive_cut_moves_every_turn():
    """step 0 cuts just what is needed: the cut end moves on every turn."""
    stops = [
        plan_cut(_chat(n), 2000, strategy="truncate_middle", keep_system=True, step=0).stop
        for n in range(9, 15)
    ]
    assert len(set(stops)) == len(stops)


def test_cut_never_reaches_a_client_marked_prefix_or_the_last_turn():
    """A mark before the last two turns protects everything up to it."""
    shape = _chat(12)
    marked = PromptShape(shape.tokens, shape.system, shape.turn_starts, last_mark=6)
    cut = plan_cut(marked, 2000, strategy="drop_oldest", keep_system=True, step=0)
    assert cut is not None and cut.start == 7 and cut.stop <= shape.turn_starts[-1]


def test_error_strategy_and_uncuttable_prompts_raise():
    """Over budget with strategy error, or with nothing left to cut: a 400."""
    with pytest.raises(ContextBudgetError):
        plan_cut(_chat(5), 600, strategy="error", keep_system=True, step=0)
    with pytest.raises(ContextBudgetError):
        plan_cut(_chat(2), 550, strategy="truncate_middle", keep_system=True, step=0)
    assert plan_cut(_chat(2), 5000, strategy="error", keep_system=True, step=0) is None


def test_whitespace_normalised_indentation_kept():
    """Trailing blanks and blank-line runs go; leading indentation stays."""
    assert normalise_whitespace("a  \r\n\n\n\n    b\t\n") == "a\n\n    b"


def test_repeated_tool_results_become_pointers_and_untouched_messages_are_shared():
    """The second identical tool result points at the first; other messages are the
    same objects."""
    result = "row " * 40
    msgs = [
        {"role": "user", "content": "q"},
        {"role": "tool", "tool_call_id": "c1", "content": result},
        {"role": "tool", "tool_call_id": "c2", "content": result},
    ]
    out = compress_canonical(msgs)
    assert out.repeats == 1 and out.messages[0] is msgs[0]
    assert out.messages[2]["content"] == "[The same result as tool call c1 above.]"
    native = [
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": result}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t2", "content": result}],
        },
    ]
    assert compress_anthropic(native).repeats == 1


def test_breakpoints_at_most_four_and_never_added_to_marked_bodies():
    """Tools, system and two rolling marks; a marked body comes back as it was."""
    mark = {"type": "ephemeral"}
    body = {
        "tools": [{"name": "f"}],
        "system": "s",
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": [{"type": "text", "text": "c"}]},
        ],
    }
    out = mark_anthropic(body, mark)
    assert out["tools"][0]["cache_control"] == mark
    assert out["system"] == [{"type": "text", "text": "s", "cache_control": mark}]
    marked = [m for m in out["messages"] if "cache_control" in str(m)]
    assert len(marked) + 2 == MAX_BREAKPOINTS
    assert out["messages"][0]["content"][0]["cache_control"] == mark
    assert out["messages"][2]["content"][-1]["cache_control"] == mark
    assert body["messages"][2]["content"][0] == {"type": "text", "text": "c"}  # untouched
    assert mark_anthropic(out, mark) is out


def test_strip_takes_marks_off_and_leaves_clean_bodies_alone():
    """Marks on parts, tools and messages go; a body without any is the same object."""
    mark = {"type": "ephemeral"}
    body = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "s", "cache_control": mark}]},
            {"role": "tool", "tool_call_id": "c", "content": "r", "cache_control": mark},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": mark}],
    }
    out = strip_cache_control(body)
    assert "cache_control" not in str(out)
    assert "cache_control" in str(body)
    assert strip_cache_control(out) is out


def test_cached_prices_read_write_and_one_hour():
    """Anthropic: reads 0.1x, writes 1.25x (5m) and 2x (1h) of the input price."""
    price = with_anthropic_cache_rates(Price(3.0, 15.0))
    usage = Usage(
        prompt_tokens=2350,
        completion_tokens=120,
        cached_tokens=1800,
        cache_write_tokens=500,
        cache_write_1h_tokens=300,
    )
    want = (50 * 3.0 + 1800 * 0.3 + 200 * 3.75 + 300 * 6.0 + 120 * 15.0) / 1e6
    assert cost_of(price, usage) == pytest.approx(want)
    assert usage_from_openai(usage.to_openai()) == usage


def test_stream_message_delta_with_cumulative_input_counts():
    """A message_delta repeating the cache counts keeps them (newer API versions)."""
    t = AnthropicToChunks("m")
    t.feed("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 5}}})
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 7},
    }
    t.feed("message_delta", delta)
    assert (t.usage.prompt_tokens, t.usage.cached_tokens, t.usage.completion_tokens) == (
        105,
        100,
        7,
    )


def test_compression_of_clean_messages_returns_the_same_list():
    """Nothing to compress: the very list comes back (a native body stays native)."""
    msgs = [{"role": "user", "content": "clean"}, {"role": "assistant", "content": "fine"}]
    assert compress_canonical(msgs).messages is msgs
    assert compress_anthropic(msgs).messages is msgs


def test_bedrock_converse_gets_cache_points_where_the_marks_were():
    """Marks on a system part, a tool, a user part and a tool message become cachePoints."""
    mark = {"type": "ephemeral"}
    point = {"cachePoint": {"type": "default"}}
    body = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "s", "cache_control": mark}]},
            {"role": "user", "content": [{"type": "text", "text": "u", "cache_control": mark}]},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "v"},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": mark}],
    }
    out = chat_to_bedrock(body)
    assert out["system"] == [{"text": "s"}, point]
    assert out["messages"][0]["content"] == [{"text": "u"}, point]
    assert out["messages"][2]["content"] == [{"text": "v"}]
    assert out["toolConfig"]["tools"][1] == point
    plain = chat_to_bedrock({"messages": [{"role": "user", "content": "x"}]})
    assert "cachePoint" not in str(plain)


async def test_per_message_counts_are_remembered_and_match_a_fresh_count():
    """A second count of a grown chat gives the same numbers as a fresh counter."""
    history = [{"role": "user", "content": f"message {i} " + "text " * i} for i in range(30)]
    warm = TiktokenCounter()
    await warm.per_message({"messages": history[:20]})
    again = await warm.per_message({"messages": history})
    fresh = await TiktokenCounter().per_message({"messages": history})
    assert again == fresh
    assert sum(again[0]) + again[1] == (await TiktokenCounter().count({"messages": history}))[0]
