"""Where body capture for the audit log plugs into a request."""

from __future__ import annotations

from typing import Any

from lockgate.context import RequestContext

__all__ = ["capture_bodies"]


def capture_bodies(ctx: RequestContext, request_body: Any, response_body: Any) -> None:
    """Keep the (already redacted) bodies for this request's audit record.

    Call it only when ``audit.store_bodies`` is on, with the bodies as they are
    after redaction: what is passed here is what gets encrypted and stored.  The
    objects are referenced, not copied, so pass values nobody mutates afterwards.
    """
    ctx.captured_request = request_body
    ctx.captured_response = response_body
