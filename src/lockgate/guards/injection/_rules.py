"""All pattern rules, gathered from the per-family modules."""

from __future__ import annotations

from ._rule import FAMILY_WEIGHTS, Rule
from ._rules_channel import CHANNEL_RULES
from ._rules_extraction import EXTRACTION_RULES
from ._rules_override import OVERRIDE_RULES
from ._rules_persona import PERSONA_RULES

__all__ = ["FAMILY_WEIGHTS", "RULES", "Rule"]

RULES: tuple[Rule, ...] = (*OVERRIDE_RULES, *EXTRACTION_RULES, *PERSONA_RULES, *CHANNEL_RULES)
