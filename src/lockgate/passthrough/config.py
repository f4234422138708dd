"""``passthrough:`` in the config file: which providers' raw APIs the gateway relays.

    passthrough:
      openai: {api_base: https://api.openai.com, api_key: os.environ/OPENAI_API_KEY}
      anthropic: {api_base: https://api.anthropic.com, api_key: os.environ/ANTHROPIC_API_KEY}

A provider without an entry has no pass-through route (404). Only the master key may use
the routes unless ``virtual_keys: true``: a relayed call is held to a key's request count
and concurrency only (not its models, token limits, budgets or guards), and it reaches the
provider account every tenant shares (its files, batches and fine-tunes included).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["PassthroughSettings", "PassthroughTarget"]


class PassthroughTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the provider's root URL; /openai/v1/files goes to {api_base}/v1/files
    api_base: str
    api_key: SecretStr | None = None
    timeout: float = Field(default=600.0, gt=0)


class PassthroughSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    openai: PassthroughTarget | None = None
    anthropic: PassthroughTarget | None = None
    #: largest request body relayed (file uploads for fine-tuning and batches)
    max_body_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    #: let virtual keys (not only the master key) use the pass-through routes
    virtual_keys: bool = False
