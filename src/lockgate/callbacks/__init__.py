"""Logging callbacks and budget alerts: request records shipped to webhooks, an
OpenTelemetry logs collector or Langfuse, and budget thresholds announced once per
period (Slack-compatible or JSON webhooks).  See ``callbacks/config.py``."""
