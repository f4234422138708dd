"""Set a routing alias's threshold in the config file, in place.

``lockgate route calibrate --write CONFIG`` fits a threshold on the user's own traffic and
writes it here as ``routing.aliases.<alias>.threshold`` (a fixed threshold; the alias's
``target_strong_share`` or ``quality_floor``, which would conflict with it, is removed).
The file is edited with ruamel.yaml's round-trip mode, so everything else (comments, key
order, quoting, ``os.environ/...`` references) stays as the operator wrote it; PyYAML,
which the gateway reads the config with, drops comments on a rewrite. The new file is
validated before it replaces the old one (atomically, keeping its permissions): a
running gateway applies it on ``SIGHUP`` (lockgate.modelconfig.live)."""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from lockgate.routing.config import RoutingSettings
from lockgate.settings import ConfigError, load_settings

__all__ = ["set_threshold"]

_GOALS = ("target_strong_share", "quality_floor")


def set_threshold(path: Path, alias: str | None, threshold: float, note: str) -> str:
    """Write ``threshold`` for routing alias ``alias`` (the only one when None) into the
    config file at ``path``; returns the alias. ConfigError (file unchanged) when the
    file has no such alias or the result does not validate."""
    try:
        from ruamel.yaml import YAML
        from ruamel.yaml.comments import CommentedMap
        from ruamel.yaml.error import YAMLError
    except ImportError as exc:  # pragma: no cover - the semantic extra brings it
        raise ConfigError(
            f"--write needs ruamel.yaml: pip install 'lockgate[semantic]' ({exc})"
        ) from None
    try:
        text = path.read_text(encoding="utf-8")
        data = YAML(typ="rt").load(text)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    aliases = _aliases(data, path)
    if alias is None:
        if len(aliases) != 1:
            names = ", ".join(map(str, aliases)) or "none"
            raise ConfigError(f"{path}: name the routing alias with --alias (aliases: {names})")
        alias = str(next(iter(aliases)))
    spec = aliases.get(alias)
    if not isinstance(spec, CommentedMap):
        raise ConfigError(f"{path}: no routing alias {alias!r} under routing.aliases")
    value = float(f"{threshold:.6f}")
    want = {k: v for k, v in _plain(spec).items() if k not in _GOALS} | {"threshold": value}
    routing = _plain(data["routing"])
    routing["aliases"][alias] = want
    try:
        RoutingSettings.model_validate(routing)
    except ValueError as exc:
        raise ConfigError(f"{path}: the edited routing section does not validate: {exc}") from None
    expected = _plain(data) | {"routing": routing}
    new = _splice(text, spec, value, note)
    if new is None or _safe_load(new) != expected:
        new = _dump(text, spec, value, note)
    _replace(path, new)
    return alias


def _splice(text: str, spec: Any, value: float, note: str) -> str | None:
    """The file with the alias's goal lines dropped and a ``threshold:`` line set or added
    after ``weak:``, every other byte as it was; None if the alias is not a plain block
    mapping of one-line entries (then ``_dump`` rewrites it)."""
    if spec.fa.flow_style():
        return None
    lines = text.splitlines(keepends=True)

    def line_of(key: str) -> int | None:
        (kl, _), (vl, _) = spec.lc.key(key), spec.lc.value(key)
        return kl if kl == vl else None

    drop = {line_of(k) for k in _GOALS if k in spec}
    if None in drop:
        return None
    key = "threshold" if "threshold" in spec else max(("strong", "weak"), key=spec.lc.key)
    at = line_of(key)
    if at is None:
        return None
    col = spec.lc.key(key)[1]
    eol = "\r\n" if lines[at].endswith("\r\n") else "\n"
    entry = f"{' ' * col}threshold: {_scalar(value)}  # {note}{eol}"
    out = []
    for i, line in enumerate(lines):
        if i in drop:
            continue
        if i == at and key == "threshold":
            out.append(entry)
            continue
        out.append(line if line.endswith(("\n", "\r")) else line + eol)
        if i == at:
            out.append(entry)
    return "".join(out)


def _dump(text: str, spec: Any, value: float, note: str) -> str:
    """The whole file through ruamel.yaml's round trip (comments kept; indentation
    guessed from the file; the alias written as a block)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    _, seq_indent, seq_offset = load_yaml_guess_indent(text)
    data = yaml.load(text)
    # a nested mapping's first key sits one mapping indent in from column 0
    yaml.indent(
        mapping=data["routing"].lc.col or 2,
        sequence=seq_indent or 2,
        offset=seq_offset or 0,
    )
    spec = _find(data, spec)
    spec.fa.set_block_style()
    for goal in _GOALS:
        spec.pop(goal, None)
    if "threshold" in spec:
        spec["threshold"] = value
    else:  # after strong/weak, where a reader looks for it
        spec.insert(_after_targets(spec), "threshold", value)
    spec.yaml_add_eol_comment(note, "threshold")
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _find(data: Any, old: Any) -> Any:
    for spec in data["routing"]["aliases"].values():
        if spec.lc.line == old.lc.line and spec.lc.col == old.lc.col:
            return spec
    raise ConfigError("routing alias moved while editing")  # pragma: no cover


def _scalar(value: float) -> str:
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return f"{value:.6f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.1f}"


def _safe_load(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _aliases(data: Any, path: Path) -> dict[Any, Any]:
    routing = data.get("routing") if isinstance(data, dict) else None
    aliases = routing.get("aliases") if isinstance(routing, dict) else None
    if not isinstance(aliases, dict):
        raise ConfigError(f"{path}: no routing.aliases section")
    return aliases


def _after_targets(spec: dict[str, Any]) -> int:
    keys = list(spec)
    return max((keys.index(k) + 1 for k in ("strong", "weak") if k in keys), default=0)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _replace(path: Path, new: str) -> None:
    """Validate the whole new file as the gateway would (when the old one validated in
    this environment), then swap it in atomically with the old file's permissions."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        if _loads(path):
            try:
                load_settings(tmp, required_env="storage")
            except ConfigError as exc:
                raise ConfigError(f"{path}: the edited file does not validate: {exc}") from None
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _loads(path: Path) -> bool:
    try:
        load_settings(path, required_env="storage")
    except ConfigError:
        return False
    return True
