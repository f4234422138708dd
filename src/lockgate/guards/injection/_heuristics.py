"""Scored pattern families over normalised text.

Each family is a prior about how injections are phrased, in English, German, French,
Spanish and Italian. A hit adds a fixed amount to the detector's logit; benign-context
cues subtract, so "ignore the eslint rules" or a question about prompt injection
needs more evidence than one trigger word. Weights are hand-set on purpose: they
are the part of the detector that does not depend on any training set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FAMILIES", "Family", "HeuristicHits", "match_families"]

_VERB_EN = (
    r"(?:ignore|ignoring|disregard|forget|skip|overlook|bypass|override|discard|drop|abandon"
    r"|neglect|set aside|put aside|throw out|leave behind|remove|delete|erase|scrap|cancel"
    r"|(?:do not|don't|dont|stop|no longer) (?:follow|obey|adhere to|comply with|listen to))"
)
_PRIOR_EN = (
    r"(?:previous|prior|above|earlier|preceding|former|original|initial|old|foregoing|existing"
    r"|system|developer|default|given|pre-?set|programmed|built-?in|all|any|every|your|those|these)"
)
_OBJECT_EN = (
    r"(?:instructions?|directions?|directives?|prompts?|rules|guidelines?|commands?|orders"
    r"|tasks?|assignments?|constraints?|restrictions?|limitations?|programming|guardrails?"
    r"|polic(?:y|ies)|filters?|training|safeguards?|settings|information|context|messages?"
    r"|conversation|text|input)"
)
_VERB_DE = (
    r"(?:ignorier\w*|vergiss|vergesst|vergessen|vergesse|missacht\w*|übergeh\w*|verwirf"
    r"|verwerf\w*|lösch\w*|befolge nicht|hör auf|lass\w*)"
)
_OBJECT_DE = (
    r"(?:anweisung\w*|befehl\w*|aufgabe\w*|aufträg\w*|auftrag\w*|regeln|vorgaben|instruktion\w*"
    r"|informationen|angaben|anordnung\w*|richtlinie\w*|einschränkung\w*|prompt\w*|alles)"
)
_PRIOR_DE = r"(?:vorherig|bisherig|obig|vorangehend|vorausgegangen|vorig|früher|ursprünglich|erst)\w*"
_VERB_ROMANCE = (
    r"(?:ignor\w*|oubli\w*|ne tiens? pas compte|ne tenez pas compte|olvid\w*|descart\w*|omit\w*"
    r"|dimentic\w*|tralascia\w*|disconsidere?\w*|esquec\w*)"
)
_OBJECT_ROMANCE = (
    r"(?:instructions?|consignes?|règles|directives?|instrucciones|reglas|indicaciones|órdenes"
    r"|ordenes|istruzioni|regole|instruções|regras|tout ce qui précède|todo lo anterior"
    r"|tutto quello)"
)
_GAP = r"(?:[\w'’-]+[\s,]+){0,4}?"


@dataclass(frozen=True, slots=True)
class Family:
    """One named pattern family and the logit it adds when it matches."""

    name: str
    weight: float
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class HeuristicHits:
    """The families that matched one window and their summed logit."""

    logit: float
    names: tuple[str, ...]


def _family(name: str, weight: float, *alternatives: str) -> Family:
    return Family(name, weight, re.compile("|".join(f"(?:{a})" for a in alternatives)))


FAMILIES: tuple[Family, ...] = (
    _family(
        "override_instructions",
        3.5,
        rf"\b{_VERB_EN}\s+{_GAP}{_PRIOR_EN}\s+{_GAP}{_OBJECT_EN}\b",
        rf"\b{_VERB_EN}\s+(?:all\s+|everything\s+)?(?:of\s+)?(?:the\s+|what\s+)?"
        r"(?:above|before|previous|prior|preceding|earlier|said|written|you were told|you've been told"
        r"|you have been told|i (?:said|told you))\b",
        rf"\b(?:forget|ignore|disregard)\s+(?:about\s+)?(?:everything|all that|all of that|that)\b",
        rf"\b{_VERB_DE}\s+{_GAP}{_OBJECT_DE}\b",
        rf"\b{_PRIOR_DE}\s+(?:\w+\s+)?(?:anweisung|aufgabe|befehl|instruktion|angaben|informationen"
        r"|vorgaben|aufträge)\w*\b",
        rf"\b{_VERB_ROMANCE}\s+{_GAP}{_OBJECT_ROMANCE}",
        r"\b(?:instructions?|consignes|instrucciones|istruzioni|instruções)\s+(?:précédentes"
        r"|antérieures|anteriores|previas|precedentes|precedenti|iniziali|initiales)\b",
        r"\b(?:new|updated|revised|real|actual|true)\s+(?:instructions?|rules|directives?|system prompt)"
        r"\s*(?::|follow|are|below)",
        r"\b(?:neue|folgende)\s+(?:anweisung|aufgabe|instruktion)\w*\s*(?::|folg)",
        r"\binstead,?\s+(?:you\s+(?:must|should|will)\s+|just\s+|please\s+)?(?:say|print|output|write"
        r"|respond|reply|answer|tell)\b",
    ),
    _family(
        "task_pivot",
        1.5,
        r"\b(?:now|from now on),?\s+(?:\w+\s+){0,3}?(?:focus|concentrate)\s+on\s+(?:your|the|a|this)"
        r"\s+new\b",
        r"\bnew\s+(?:task|assignment|mission|job|challenge)s?\s*(?::|follows?|is)",
        r"\b(?:now|then)\s+(?:new|further|more|other)\s+(?:tasks?|instructions?|assignments?)\s+follow",
        r"\b(?:that is|that's|this is)\s+(?:enough|done|it)\b[.!]\s*(?:now|but now|next)\b",
        r"\bstart\s+(?:over|again|from\s+(?:the\s+)?(?:front|scratch|beginning))\b",
        r"\b(?:neue|weitere)\s+aufgabe\w*\b",
        r"\b(?:nun|jetzt)\s+folgen\b",
        r"\b(?:konzentriere|fokussiere)\s+dich\s+(?:jetzt|nun)?\s*auf\b",
        r"\b(?:von nun an|ab jetzt|ab sofort)\b",
        r"\bfrom now on\b",
        r"\b(?:stop|halt|stopp|achtung)\b\W{0,4}\b(?:stop|stopp|ignore|ignoriere|now|jetzt)\b",
    ),
    _family(
        "prompt_extraction",
        3.0,
        r"\b(?:show|reveal|print|display|output|repeat|tell|give|leak|spell|write|list|dump|share"
        r"|copy|paste|return|recite|expose|disclose|provide|what (?:is|are|was|were))\s+(?:me\s+|us\s+)?"
        r"(?:\w+\s+){0,4}?(?:system\s*prompt|system\s+message|initial\s+(?:prompt|instructions)"
        r"|original\s+(?:prompt|instructions)|hidden\s+(?:prompt|instructions)|prompt\s*texts?"
        r"|(?:your|the)\s+(?:full\s+|entire\s+|whole\s+|complete\s+)?prompt"
        r"|(?:your|the)\s+instructions|instructions\s+(?:above|you\s+(?:were|have been)\s+given)"
        r"|(?:text|words|everything)\s+above|secret\s+(?:key|password|word)|the\s+password"
        r"|pre-?prompt|configuration|guidelines\s+you)",
        r"\b(?:beginning|start|top)\s+of\s+(?:this|the|your)\s+(?:prompt|conversation|context)",
        r"\brepeat\s+(?:the\s+)?(?:words|text|everything)\s+(?:above|before)",
        r"\b(?:zeig\w*|gib|verrat\w*|nenn\w*|druck\w*|wiederhol\w*|ausgeb\w*)\s+(?:\w+\s+){0,4}?"
        r"(?:prompt\w*|systemanweisung\w*|anweisungen|passwort|kennwort)",
        r"\b(?:montre|affiche|révèle|répète|muestra|revela|repite|mostra|rivela)\w*\s+(?:\w+\s+){0,4}?"
        r"(?:prompt|instructions|instrucciones|istruzioni|mot de passe|contraseña)",
    ),
    _family(
        "persona_jailbreak",
        3.0,
        r"\bdan\b.{0,80}\bdo anything now\b|\bdo anything now\b",
        r"\b(?:developer|dev|god|jailbreak|jailbroken|unrestricted|unfiltered|opposite|evil|chaos"
        r"|sudo|admin|debug|dude|stan|mongo tom|aim)\s+mode\b",
        r"\bjailbr(?:eak|oken)\b",
        r"\b(?:stay|remain|keep)\s+(?:in|fully in)\s+character\b|\bbreak(?:ing)?\s+character\b",
        r"\b(?:without|no|free (?:of|from)|not bound by|unbound by|freed from|exempt from"
        r"|don't have|do not have|doesn't have|does not have|has no|have no|with no)\s+(?:any\s+)?"
        r"(?:\w+\s+){0,2}?(?:restrictions?|limitations?|filters?|censorship|ethics|ethical"
        r"|morals?|moral|guidelines|rules|boundaries|limits|constraints|policies|safeguards)\b"
        r"(?:.{0,40}\b(?:respond|answer|reply|act|you|ai|assistant|chatbot|character|generate))?",
        r"\b(?:broken|break|broke|escaped|free)\s+(?:free\s+)?(?:of|from)\s+(?:the\s+)?(?:typical\s+)?"
        r"(?:confines|rules|restrictions|chains|shackles)\b",
        r"\b(?:openai|anthropic|content|safety|usage)\s+(?:content\s+)?polic(?:y|ies)\b",
        r"\bnever\s+(?:refuses?|declines?|says?\s+no|censors?)\b",
        r"\b(?:can't|cannot|won't|will not|must not|never)\s+(?:refuse|say\s+(?:that\s+)?(?:you|it)"
        r"\s+(?:can't|cannot))\b",
        r"\b(?:as an?|you are an?)\s+(?:unfiltered|uncensored|unrestricted|amoral|evil|unethical)\b",
        r"\bpretend\s+(?:to\s+be|you\s+are|that\s+you)\b.{0,120}\b(?:no|without|any|evil|unfiltered"
        r"|uncensored|illegal|anything)\b",
        r"\b(?:two|2)\s+(?:different\s+)?(?:responses|answers|paragraphs)\b.{0,200}\b(?:normal|classic"
        r"|jailbreak|unfiltered|dan|developer)\b",
        r"\[(?:🔒|🔓|classic|jailbreak|dan|gpt|normal output|developer mode output)[^\]]{0,20}\]",
        r"\b(?:hypothetical|fictional)\s+(?:ai|model|assistant|character)\s+(?:\w+\s+){0,4}?"
        r"(?:no|without|any)\b",
    ),
    _family(
        "role_reassignment",
        1.0,
        r"\byou\s+are\s+(?:now|no longer)\b",
        r"\b(?:from now on|henceforth|for the rest of this conversation)\s+you\b",
        r"\b(?:act|behave|respond|answer)\s+as\s+(?:if\s+you\s+(?:were|are)\s+)?(?:an?\s+)?\w+"
        r"(?:\s+\w+){0,3}\s+(?:who|that|which)\s+(?:\w+\s+){0,3}?(?:no|never|any|without|can)\b",
        r"\b(?:jetzt|nun)\s+bist\s+du\b|\bdu\s+bist\s+(?:jetzt|nun|ab\s+jetzt)\b",
        r"\bstell\s+dir\s+vor,?\s+du\s+bist\b",
        r"\bpretend\s+(?:to\s+be|you\s+are|that\s+you)\b",
        r"\b(?:maintenant|désormais)\s+tu\s+es\b|\b(?:ahora|a partir de ahora)\s+eres\b",
    ),
    _family(
        "template_injection",
        2.5,
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>",
        r"\[/?inst\]|<<\s*/?sys\s*>>|</?s>\s*\[",
        r"(?:^|\n)\s*#{2,}\s*(?:system|instruction|instructions|new instructions|admin|developer)\b",
        r"(?:^|\n)\s*(?:system|developer|admin)\s*(?:prompt|message|override|note)?\s*:\s",
        r"\"role\"\s*:\s*\"system\"",
        r"</?\s*(?:system|instructions?|sys|admin)\s*>",
        r"\bend\s+of\s+(?:the\s+)?(?:system\s+)?(?:prompt|instructions|user input|document|context)\b",
        r"(?:-{3,}|={3,}|\*{3,})\s*(?:end|begin|new|system|override)\b",
    ),
    _family(
        "indirect_injection",
        2.5,
        r"\b(?:if\s+you\s+are\s+an?|to\s+the|note\s+to\s+(?:the\s+)?|attention|dear|hey|hi)\s+"
        r"(?:ai|llm|language\s+model|assistant|chatbot|gpt|model|bot)\b",
        r"\b(?:ai|llm|assistant|chatbot|model)s?\s+(?:reading|processing|summari[sz]ing|parsing"
        r"|analy[sz]ing)\s+this\b",
        r"\b(?:ai|assistant|llm)\s+instructions?\s*:",
        r"\b(?:send|forward|email|post|upload|exfiltrate|leak)\s+(?:\w+\s+){0,3}?(?:conversation"
        r"|chat history|password|passwords|credentials|api key|api keys|tokens?|user data"
        r"|personal data|emails|contacts)\s+to\b",
        r"!\[[^\]]*\]\(https?://[^)]*[?&=]",
        r"\bdo\s+not\s+(?:summari[sz]e|translate|mention|tell\s+the\s+user|reveal\s+this)\b",
        r"\bwhen\s+(?:asked|summari[sz]ing|you\s+read\s+this)\b.{0,60}\b(?:instead|always|must)\b",
    ),
    _family(
        "encoding_request",
        1.5,
        r"\b(?:decode|decipher|translate|interpret)\s+(?:this|the\s+following|it)?\s*(?:from\s+)?"
        r"(?:base64|base-64|rot13|rot-13|hex|binary|morse|caesar)\b",
        r"\b(?:respond|answer|reply|write|output)\s+(?:only\s+)?in\s+(?:base64|rot13|hex|binary"
        r"|leetspeak|morse)\b",
        r"\b(?:base64|rot13)\s*(?:encoded|decoded)?\s*:\s*[a-z0-9+/=]{16,}",
    ),
)

# Benign context: technical uses of trigger words and questions about the topic.
_BENIGN_CONTEXT = re.compile(
    r"\b(?:eslint|pylint|flake8|ruff|mypy|linter|lint|gitignore|\.gitignore|git|css|firewall"
    r"|iptables|regex|compiler|warning|warnings|jest|pytest|webpack|robots\.txt|spam filter"
    r"|unit tests?|test cases?|typescript|tsconfig|npm|pip|docker)\b"
)
_META_DISCUSSION = re.compile(
    r"\b(?:what\s+is|what\s+are|explain|define|describe|detect|detecting|prevent|preventing|defend"
    r"|defending|mitigat\w*|protect\w*\s+against|research|paper|examples?\s+of|history\s+of)\b"
    r".{0,60}\b(?:prompt\s+injections?|jailbreak\w*|prompt\s+attacks?|adversarial\s+prompts?)\b"
)
_BENIGN_WEIGHT = -1.5


def match_families(text: str) -> HeuristicHits:
    """Score one normalised window against every family and the benign-context cues."""
    logit = 0.0
    names: list[str] = []
    for family in FAMILIES:
        if family.pattern.search(text) is not None:
            logit += family.weight
            names.append(family.name)
    if names:
        if _BENIGN_CONTEXT.search(text) is not None:
            logit += _BENIGN_WEIGHT
            names.append("benign_technical_context")
        if _META_DISCUSSION.search(text) is not None:
            logit += _BENIGN_WEIGHT
            names.append("benign_meta_discussion")
    return HeuristicHits(logit=logit, names=tuple(names))
