"""``lockgate route``: fit a routing alias's threshold to a sample of your own traffic."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["app"]

app = typer.Typer(help="Strong/weak routing: calibrate thresholds on your own traffic.")


def _read_prompts(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(text, row) per JSONL line; a line holds `prompt` (a string) or `messages`."""
    from lockgate.routing.stage import prompt_text

    out: list[tuple[str, dict[str, Any]]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"{path}:{n}: not JSON ({exc.msg})") from None
            if isinstance(row, dict) and isinstance(row.get("prompt"), str):
                out.append((row["prompt"], row))
            elif isinstance(row, dict) and isinstance(row.get("messages"), list):
                out.append((prompt_text(row["messages"]), row))
            else:
                raise typer.BadParameter(f"{path}:{n}: needs a 'prompt' string or 'messages'")
    if not out:
        raise typer.BadParameter(f"{path}: no prompts")
    return out


def _scores(texts: list[str]) -> list[float]:
    from lockgate.cache.semantic.embedder import LocalEmbedder
    from lockgate.routing.model import RouterModel, embedding_text

    model = RouterModel.load()
    emb = LocalEmbedder()

    async def run() -> list[float]:
        out: list[float] = []
        for i in range(0, len(texts), 64):
            batch = texts[i : i + 64]
            vecs = await emb.embed([embedding_text(t) for t in batch])
            out.extend(model.score(v, t) for v, t in zip(vecs, batch, strict=True))
        return out

    return asyncio.run(run())


@app.command("calibrate")
def calibrate(
    file: Annotated[
        Path, typer.Argument(help="JSONL sample of your traffic (prompt or messages).")
    ],
    share: Annotated[
        float, typer.Option("--share", min=0.0, max=1.0, help="Target share of strong calls.")
    ] = 0.4,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the threshold that sends `share` of these prompts to the strong model. If the
    rows carry `weak_correct` and `strong_correct`, also print the quality it keeps."""
    import numpy as np

    from lockgate.routing.model import _quantile_threshold

    rows = _read_prompts(file)
    raw = np.asarray(_scores([t for t, _ in rows]), dtype=np.float32)
    threshold = _quantile_threshold(np.sort(raw), share)
    result: dict[str, Any] = {"prompts": len(rows), "share": share, "threshold": threshold}
    labelled = [r for _, r in rows if "weak_correct" in r and "strong_correct" in r]
    if len(labelled) == len(rows):
        weak = np.array([bool(r["weak_correct"]) for _, r in rows])
        strong = np.array([bool(r["strong_correct"]) for _, r in rows])
        routed = raw > threshold
        acc = float(np.where(routed, strong, weak).mean())
        result.update(
            realised_share=float(routed.mean()),
            accuracy=acc,
            strong_accuracy=float(strong.mean()),
            quality_kept=acc / float(strong.mean()) if strong.any() else None,
        )
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"{len(rows)} prompts; threshold for a {share:.0%} strong share: {threshold:.6f}")
    if "quality_kept" in result:
        typer.echo(
            f"realised share {result['realised_share']:.1%}; accuracy {result['accuracy']:.3f}"
            f" vs strong {result['strong_accuracy']:.3f} ({result['quality_kept']:.1%} kept)"
        )
    typer.echo(f"config: routing.aliases.<name>.threshold: {threshold:.6f}")
