"""Does ``quality_floor`` keep what it promises on prompts the router never saw?

Nested cross-validation on ../shared/data/routing-dev.jsonl: for each outer fold (whole
MMLU subjects held out, GSM8K rows at random), the two-branch model and its quality-loss
curve are fitted on the other folds only (the curve from an inner cross-validation, as
``bench/train_router.py --write`` does on all rows); the outer fold's prompts are then
routed at threshold ``1 - floor``. Prints, per source and floor, the realised strong share
and the share of GPT-4's accuracy kept (bootstrap 95% CI over prompts).

    nice -n 10 .venv/bin/python bench/check_router_floor.py     # ~1 minute
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import train_router as tr

from lockgate.routing.model import quality_loss


def nested_scores(F, rows, weak, strong, mc, seed: int) -> np.ndarray:
    scaled = np.zeros(len(rows))
    for train, test in tr.make_folds(rows, seed):
        oof = np.zeros(len(train))
        for itr, ite in tr.make_folds([rows[i] for i in train], seed + 50):
            for flag in (True, False):
                a, b = train[itr[mc[train][itr] == flag]], ite[mc[train][ite] == flag]
                coef, icpt = tr.fit_branch(F[a], weak[a], strong[a], flag)
                oof[b] = F[train[b]] @ coef + icpt
        for flag in (True, False):
            m = mc[train] == flag
            rows_m = train[m]
            knots = tr.percentile_knots(oof[m], n=tr.KNOTS)
            pct = np.interp(oof[m], knots, np.linspace(0.0, 1.0, len(knots)))
            loss = tr.loss_curve(pct, weak[rows_m], strong[rows_m], len(knots))
            coef, icpt = tr.fit_branch(F[rows_m], weak[rows_m], strong[rows_m], flag)
            out = test[mc[test] == flag]
            scaled[out] = [quality_loss(knots, loss, float(r)) for r in F[out] @ coef + icpt]
    return scaled


def main() -> None:
    ap = tr.parser(draws=2)
    args = ap.parse_args()
    rows, X, F = tr.load_featured(args)
    weak = np.array([r["weak_correct"] for r in rows], dtype=float)
    strong = np.array([r["strong_correct"] for r in rows], dtype=float)
    src = np.array([r["source"] for r in rows])
    mc = F[:, X.shape[1] + 5] > 0.5
    rng = np.random.default_rng(0)
    for d in range(args.draws):
        scaled = nested_scores(F, rows, weak, strong, mc, 100 + d)
        for floor in (0.90, 0.95):
            for name in ("mmlu", "gsm8k"):
                idx = np.where(src == name)[0]
                routed = scaled[idx] > 1.0 - floor
                kept = np.where(routed, strong[idx], weak[idx]).mean() / strong[idx].mean()
                boots = []
                for _ in range(500):
                    i = rng.choice(idx, len(idx))
                    r = scaled[i] > 1.0 - floor
                    boots.append(np.where(r, strong[i], weak[i]).mean() / strong[i].mean())
                lo, hi = np.percentile(boots, [2.5, 97.5])
                print(
                    f"fold draw {d}  quality_floor {floor}  {name:5s} (n={len(idx)}): strong"
                    f" share {routed.mean():.3f}, GPT-4 accuracy kept {kept:.3f}"
                    f" (95% CI {lo:.3f}-{hi:.3f})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
