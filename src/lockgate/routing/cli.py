"""``lockgate route``: fit a routing alias's threshold to a sample of your own traffic, and
read the router's curve on a labelled sample."""

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
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            help="Set the threshold in this config file (routing.aliases.<alias>.threshold),"
            " keeping its comments; a running gateway applies it on SIGHUP.",
        ),
    ] = None,
    alias: Annotated[
        str | None,
        typer.Option("--alias", help="Routing alias to set (default: the file's only one)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find the threshold that sends `share` of these prompts to the strong model, and with
    --write set it in the config file. If the rows carry `weak_correct` and
    `strong_correct`, also print the quality it keeps."""
    import numpy as np

    from lockgate.routing.model import _quantile_threshold

    rows = _read_prompts(file)
    raw = np.asarray(_scores([t for t, _ in rows]), dtype=np.float32)
    threshold = _quantile_threshold(np.sort(raw), share)
    result: dict[str, Any] = {"prompts": len(rows), "share": share, "threshold": threshold}
    labelled = [r for _, r in rows if _labelled(r)]
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
    if write is not None:
        result.update(written=str(write), alias=_write(write, alias, threshold, share, file))
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"{len(rows)} prompts; threshold for a {share:.0%} strong share: {threshold:.6f}")
    if "quality_kept" in result:
        typer.echo(
            f"realised share {result['realised_share']:.1%}; accuracy {result['accuracy']:.3f}"
            f" vs strong {result['strong_accuracy']:.3f} ({result['quality_kept']:.1%} kept)"
        )
    if write is None:
        typer.echo(f"config: routing.aliases.<name>.threshold: {threshold:.6f}")
    else:
        typer.echo(
            f"set routing.aliases.{result['alias']}.threshold: {threshold:.6f} in {write};"
            " a running gateway applies it on SIGHUP (kill -HUP <its pid>)"
        )


def _write(config: Path, alias: str | None, threshold: float, share: float, sample: Path) -> str:
    from datetime import UTC, datetime

    from lockgate.routing.configfile import set_threshold
    from lockgate.settings import ConfigError

    day = datetime.now(UTC).date().isoformat()
    note = f"lockgate route calibrate: {share:.0%} strong on {sample.name}, {day}"
    try:
        return set_threshold(config, alias, threshold, note)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("curve")
def curve(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSONL sample (prompt or messages) with weak_correct and strong_correct."
        ),
    ],
    floor: Annotated[
        float,
        typer.Option("--floor", min=0.5, max=1.0, help="Quality floor to find the share for."),
    ] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The shipped router's curve on your labelled sample: strong-call share against the
    share of the strong model's accuracy kept (bootstrap 95% CI), against random routing,
    and the strong share (and threshold) that keeps --floor."""
    import numpy as np

    from lockgate.routing.curve import routing_curve

    rows = _read_prompts(file)
    missing = [n for n, (_, r) in enumerate(rows, 1) if not _labelled(r)]
    if missing:
        raise typer.BadParameter(
            f"{file}: prompt {missing[0]} has no weak_correct/strong_correct"
            f" ({len(missing)} of {len(rows)} unlabelled)"
        )
    scores = np.asarray(_scores([t for t, _ in rows]), dtype=np.float64)
    weak = np.array([bool(r["weak_correct"]) for _, r in rows])
    strong = np.array([bool(r["strong_correct"]) for _, r in rows])
    result = routing_curve(scores, weak, strong, np.random.default_rng(seed), floor=floor)
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    typer.echo(
        f"{result.n} prompts; weak accuracy {result.weak_accuracy:.3f},"
        f" strong {result.strong_accuracy:.3f}"
    )
    typer.echo("strong share  kept [95% CI]          random")
    for p in result.points:
        typer.echo(f"{p.share:>11.0%}  {p.kept:6.1%} [{p.low:.1%}-{p.high:.1%}]  {p.random:6.1%}")
    typer.echo(
        f"keeping {floor:.0%} needs {result.share_needed:.0%} strong calls"
        f" (95% CI {result.share_low:.0%}-{result.share_high:.0%}); threshold"
        f" {result.threshold:.6f} on this sample"
    )


def _labelled(row: dict[str, Any]) -> bool:
    return "weak_correct" in row and "strong_correct" in row
