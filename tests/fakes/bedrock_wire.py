"""AWS Bedrock Converse wire: JSON answers, ConverseStream in AWS event-stream frames,
and a SigV4 check that recomputes the signature with botocore (the fake knows the secret)."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from .replies import TOOL_TRIGGER, compact_json, estimate_tokens, example_arguments, plan_text_reply

__all__ = ["ACCESS_KEY", "SECRET_KEY", "check_signature", "converse", "stream_frames"]

ACCESS_KEY = "AKIDFAKE"
SECRET_KEY = "fake-secret-key"


def check_signature(method: str, url: str, headers: dict[str, str], body: bytes) -> str | None:
    """Why the request's SigV4 signature is wrong, or None when it verifies."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = headers.get("authorization", "")
    if auth.startswith("Bearer "):
        return None if auth == "Bearer bedrock-api-key" else "bad Bedrock API key"
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "missing SigV4 authorization"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
    _, _date, region, service, _ = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    request = AWSRequest(
        method=method, url=url, data=body, headers={h: headers[h] for h in signed if h in headers}
    )
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(
        Credentials(ACCESS_KEY, SECRET_KEY, headers.get("x-amz-security-token")), service, region
    )
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    return (
        None
        if expected == fields["Signature"]
        else "The request signature we calculated does not match"
    )


def _plan(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, int, list[str]]:
    messages = body.get("messages") or []
    user = ""
    for message in reversed(messages):
        if message.get("role") == "user":
            user = " ".join(str(b["text"]) for b in message.get("content") or [] if "text" in b)
            break
    tool_config = body.get("toolConfig") or {}
    tools = [t["toolSpec"] for t in tool_config.get("tools") or []]
    forced = ((tool_config.get("toolChoice") or {}).get("tool") or {}).get("name")
    if tools and (forced or TOOL_TRIGGER in user):
        tool = next((t for t in tools if t["name"] == forced), tools[0])
        args = example_arguments((tool.get("inputSchema") or {}).get("json"))
        use = {"toolUseId": "tooluse_fake1", "name": tool["name"], "input": args}
        text = compact_json(args)
        return [{"toolUse": use}], "tool_use", estimate_tokens(text), [text]
    config = body.get("inferenceConfig") or {}
    reply = plan_text_reply(user, config.get("maxTokens"))
    stop = "max_tokens" if reply.truncated else "end_turn"
    return [{"text": reply.text}], stop, reply.output_tokens, reply.pieces()


def _usage(body: dict[str, Any], output: int) -> dict[str, int]:
    text = json.dumps(body.get("messages")) + json.dumps(body.get("system") or [])
    prompt = estimate_tokens(text) // 4
    return {"inputTokens": prompt, "outputTokens": output, "totalTokens": prompt + output}


def converse(body: dict[str, Any]) -> dict[str, Any]:
    content, stop, output, _ = _plan(body)
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": _usage(body, output),
        "metrics": {"latencyMs": 12},
    }


def _header(name: str, value: str) -> bytes:
    raw = value.encode()
    return bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw


def frame(event: str, payload: dict[str, Any], message_type: str = "event") -> bytes:
    """One AWS event-stream message (prelude, headers, payload, CRCs)."""
    type_header = ":exception-type" if message_type == "exception" else ":event-type"
    headers = (
        _header(":message-type", message_type)
        + _header(type_header, event)
        + _header(":content-type", "application/json")
    )
    body = json.dumps(payload, separators=(",", ":")).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def stream_frames(body: dict[str, Any]) -> list[bytes]:
    content, stop, output, pieces = _plan(body)
    frames = [frame("messageStart", {"role": "assistant"})]
    block = content[0]
    if "toolUse" in block:
        use = block["toolUse"]
        start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
        frames.append(frame("contentBlockStart", {"start": start, "contentBlockIndex": 0}))
        deltas = [{"toolUse": {"input": p}} for p in pieces]
    else:
        deltas = [{"text": p} for p in pieces]
    frames += [frame("contentBlockDelta", {"delta": d, "contentBlockIndex": 0}) for d in deltas]
    frames.append(frame("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(frame("messageStop", {"stopReason": stop}))
    frames.append(frame("metadata", {"usage": _usage(body, output), "metrics": {"latencyMs": 9}}))
    return frames
