"""Pass-through routes (/openai/..., /anthropic/...) for endpoints lockgate does not model."""

from lockgate.passthrough.config import PassthroughSettings, PassthroughTarget

__all__ = ["PassthroughSettings", "PassthroughTarget"]
