"""The GSM8K branch exactly as ``train_router.py --write`` builds it, checked by nested CV:
shipped LR ("lr") against the rank-average ensemble ("ens3": that LR, ridge on the gain,
PCA + LR, hyperparameters picked by an inner 5-fold CV inside ``tr.ens3_members``).

For each of ``--draws`` outer 5-fold assignments of the 660 GSM8K rows (seeds 500+, as
bench/check_router_gsm8k.py), everything is fitted on the outer training rows only: the
members and their hyperparameters, each member's percentile knots (from its inner
out-of-fold scores), and the branch's quality-loss curve. The outer fold is then scored
as the gateway scores it (``RouterModel`` with the member arrays). Printed per design:
the strong share needed for 95% kept (mean, sd over draws; bootstrap 95% CI on draw 0),
kept at 65% strong, a paired bootstrap over prompts of the difference, and
``quality_floor: 0.95`` end to end (threshold 0.05: realised
strong share and share of GPT-4's accuracy kept, means over draws and bootstrap CI of the
pooled draw-0 routing).

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python bench/check_router_ens3.py --draws 20
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import train_router as tr

from lockgate.routing.model import quality_loss

GRID = np.linspace(0.0, 1.0, tr.KNOTS)


def fit_branch(F, nx, weak, strong, design: str, seed: int):
    """A function scoring raw feature rows on the quality-loss scale, fitted on these rows."""
    gains = ((weak == 0) & (strong == 1)).astype(int)
    if design == "lr":
        members = []
        oof = np.zeros(len(F))
        for a, b in tr._random_folds(len(F), seed):
            coef, icpt = tr.fit_branch(F[a], weak[a], strong[a], False)
            oof[b] = F[b] @ coef + icpt
        coef, icpt = tr.fit_branch(F, weak, strong, False)
        del gains

        def raw(Z: np.ndarray) -> np.ndarray:
            return Z @ coef + icpt

    else:
        with contextlib.redirect_stdout(io.StringIO()):
            members = tr.ens3_members(F, nx, weak, strong, seed)
        knots = [tr.percentile_knots(m_oof, n=tr.KNOTS).astype(np.float32) for *_, m_oof in members]

        def raw(Z: np.ndarray, use_oof: bool = False) -> np.ndarray:
            total = np.zeros(len(Z))
            for (coef, icpt, m_oof), k in zip(members, knots, strict=True):
                r = m_oof if use_oof else Z @ coef + icpt
                total += [quality_loss(k, GRID, float(x)) for x in r]
            return total

        oof = raw(F, use_oof=True)
    k = tr.percentile_knots(oof, n=tr.KNOTS)
    pct = np.interp(oof, k, GRID)
    loss = tr.loss_curve(pct, weak, strong, tr.KNOTS)
    k32, loss32 = k.astype(np.float32), loss.astype(np.float32)
    return lambda Z: np.array([quality_loss(k32, loss32, float(x)) for x in raw(Z)])


def main() -> None:
    ap = tr.parser(draws=20)
    args = ap.parse_args()
    rows, X, F = tr.load_featured(args)
    F = F.astype(np.float64)
    g = np.array([i for i, r in enumerate(rows) if r["source"] == "gsm8k"])
    F = F[g]
    weak = np.array([rows[i]["weak_correct"] for i in g], dtype=float)
    strong = np.array([rows[i]["strong_correct"] for i in g], dtype=float)
    designs = ("lr", "ens3")
    need: dict[str, list[float]] = {d: [] for d in designs}
    kept65: dict[str, list[float]] = {d: [] for d in designs}
    floor_share: dict[str, list[float]] = {d: [] for d in designs}
    floor_kept: dict[str, list[float]] = {d: [] for d in designs}
    first: dict[str, np.ndarray] = {}
    scores: dict[str, list[np.ndarray]] = {d: [] for d in designs}
    for d in range(args.draws):
        s = {k: np.zeros(len(g)) for k in designs}
        for a, b in tr._random_folds(len(g), 500 + d):
            for k in designs:
                score = fit_branch(F[a], X.shape[1], weak[a], strong[a], k, 900 + d)
                s[k][b] = score(F[b])
        for k in designs:
            need[k].append(tr.share_needed(s[k], weak, strong))
            kept65[k].append(tr.accuracy_at(s[k], weak, strong, 0.65) / strong.mean())
            routed = s[k] > 0.05
            floor_share[k].append(float(routed.mean()))
            floor_kept[k].append(np.where(routed, strong, weak).mean() / strong.mean())
            first.setdefault(k, s[k])
            scores[k].append(s[k])
        print(
            f"draw {d}: "
            + ", ".join(
                f"{k} {need[k][-1]:.2f} (floor 0.95: {floor_share[k][-1]:.3f} strong,"
                f" {floor_kept[k][-1]:.3f} kept)"
                for k in designs
            ),
            flush=True,
        )
    rng = np.random.default_rng(0)
    print(f"\nGSM8K n={len(g)}, {args.draws} draws of nested 5-fold CV")
    diff = np.array(need["ens3"]) - np.array(need["lr"])
    for k in designs:
        lo, hi = tr.bootstrap_share(first[k], weak, strong, rng, n=500)
        routed = first[k] > 0.05
        boots = []
        for _ in range(500):
            i = rng.integers(0, len(g), len(g))
            boots.append(np.where(routed[i], strong[i], weak[i]).mean() / strong[i].mean())
        klo, khi = np.percentile(boots, [2.5, 97.5])
        print(
            f"{k:<5} share for 95% kept {np.mean(need[k]):.3f} (sd {np.std(need[k]):.3f};"
            f" draw-0 CI {lo:.2f}-{hi:.2f}); kept at 65% {np.mean(kept65[k]):.4f};"
            f" quality_floor 0.95: {np.mean(floor_share[k]):.3f} strong,"
            f" {np.mean(floor_kept[k]):.4f} kept (draw-0 CI {klo:.3f}-{khi:.3f})"
        )
    print(
        f"ens3 - lr: {diff.mean():+.3f} (lower in {int((diff < 0).sum())},"
        f" higher in {int((diff > 0).sum())} of {len(diff)} draws)"
    )
    w_acc, s_acc = weak.mean(), strong.mean()
    print("curve: strong share -> GPT-4 accuracy kept, mean over draws [draw-0 bootstrap 95% CI]")
    for share in (0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8):
        cells = []
        for k in designs:
            mean = np.mean([tr.accuracy_at(x, weak, strong, share) for x in scores[k]]) / s_acc
            _, lo, hi = tr.curve_ci(first[k], weak, strong, share, rng, n=500)
            cells.append(f"{k} {mean:.1%} [{lo:.1%}-{hi:.1%}]")
        rand = (w_acc + share * (s_acc - w_acc)) / s_acc
        print(f"  {share:.0%}: " + "; ".join(cells) + f"; random {rand:.1%}")
    # Sampling uncertainty of that difference: resample prompts (the same resample for
    # both designs and every draw), mean over draws of the paired difference.
    boots = []
    for _ in range(1000):
        i = rng.integers(0, len(g), len(g))
        boots.append(
            np.mean(
                [
                    fast_need(sl[i], weak[i], strong[i]) - fast_need(se[i], weak[i], strong[i])
                    for sl, se in zip(scores["lr"], scores["ens3"], strict=True)
                ]
            )
        )
    lo, hi = np.percentile(boots, [2.5, 97.5])
    print(
        f"paired bootstrap over prompts (1000 resamples, mean over draws): lr - ens3"
        f" 95% CI {lo:+.3f} to {hi:+.3f}; ens3 lower in {np.mean(np.array(boots) > 0):.1%}"
    )


def fast_need(s: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> float:
    """tr.share_needed in one pass (same 1% steps, same stable order)."""
    n = len(s)
    order = np.argsort(-s, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum(strong[order] - weak[order])])
    target = tr.FLOOR * strong.mean() - 1e-12
    for pct in range(101):
        if (weak.sum() + gain[round(pct / 100 * n)]) / n >= target:
            return pct / 100
    return 1.0


if __name__ == "__main__":
    main()
