"""OAuth access tokens for Vertex AI, from google-auth (the ``vertex`` extra).

A deployment's ``vertex_credentials`` is a service-account key (a JSON file's path,
or the JSON itself); without it, Application Default Credentials are used
(``GOOGLE_APPLICATION_CREDENTIALS``, the metadata server...).  google-auth signs the
JWT assertion and talks to the key's ``token_uri``; its refresh is a blocking HTTP
call, so it runs in a worker thread, once per credential at a time, and only when
the cached token is near expiry (google-auth's own threshold).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.errors import UpstreamConnectionError, UpstreamError

if TYPE_CHECKING:
    from lockgate.settings import Deployment

__all__ = ["VertexTokens"]

_log = logging.getLogger("lockgate.upstream")

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _load(source: str | None) -> Any:
    """google-auth credentials for a service-account key (or the environment's ADC)."""
    try:
        import google.auth
        from google.oauth2 import service_account
    except ImportError:
        raise _auth_failed("Vertex AI needs google-auth: pip install 'lockgate[vertex]'.") from None
    if source is None:
        creds, _project = google.auth.default(scopes=[SCOPE])
        return creds
    text = source if source.lstrip().startswith("{") else Path(source).read_text()
    return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        json.loads(text), scopes=[SCOPE]
    )


def _auth_failed(message: str) -> UpstreamError:
    """A credentials problem: shown as written (no upstream words), never retried."""
    err = UpstreamError(message, code="upstream_auth_failed", public=True)
    err.force_retry = False
    return err


def _refresh(creds: Any) -> None:
    import requests
    from google.auth.transport.requests import Request

    with requests.Session() as session:  # closed: google-auth's default one never is
        creds.refresh(Request(session=session))


class VertexTokens:
    """Access tokens per credential source, refreshed off the event loop."""

    def __init__(self) -> None:
        self._creds: dict[str | None, Any] = {}
        self._locks: dict[str | None, asyncio.Lock] = {}

    async def token(self, deployment: Deployment) -> str:
        secret = deployment.params.vertex_credentials
        source = secret.get_secret_value() if secret is not None else None
        creds: Any = self._creds.get(source)
        if creds is not None and creds.valid:
            return str(creds.token)
        lock = self._locks.setdefault(source, asyncio.Lock())
        async with lock:
            creds = self._creds.get(source)
            if creds is None:
                creds = await asyncio.to_thread(self._load_or_fail, source, deployment)
                self._creds[source] = creds
            if not creds.valid:
                await asyncio.to_thread(self._refresh_or_fail, creds, deployment)
        return str(creds.token)

    @staticmethod
    def _load_or_fail(source: str | None, deployment: Deployment) -> Any:
        try:
            return _load(source)
        except UpstreamError:
            raise
        except Exception as exc:
            raise _auth_failed(
                f"Vertex AI credentials of deployment {deployment.id} could not be loaded"
                f" ({type(exc).__name__}); check vertex_credentials."
            ) from None

    @staticmethod
    def _refresh_or_fail(creds: Any, deployment: Deployment) -> None:
        from google.auth import exceptions

        try:
            _refresh(creds)
        except exceptions.RefreshError as exc:
            _log.warning("vertex: token refresh refused for %s: %s", deployment.id, exc)
            raise _auth_failed(
                f"Vertex AI's token endpoint refused the credentials of deployment"
                f" {deployment.id}; check vertex_credentials."
            ) from None
        except exceptions.TransportError:
            raise UpstreamConnectionError(
                f"Vertex AI's token endpoint could not be reached for deployment {deployment.id}."
            ) from None
