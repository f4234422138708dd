"""Features of data (tool results, documents) that look like an instruction to the assistant.

In a user's own turn "send the report to bob@example.com" is an ordinary request; in a
web page or an e-mail the assistant is reading it is the shape of an indirect injection.
So data pieces get, besides the shared word features, a copy of them under a ``d:``
prefix (the model learns how the same words weigh in data: the "frustratingly easy"
domain-adaptation trick) and a few cue features under ``c:``: imperatives at a clause
start, second person, the assistant named as addressee, override words, role markers,
tool names and calls, the assistant's own reply named ("begin your answer with"), a
demand to emit a quoted string, "the user" spoken of in the third person, and somewhere
to send things (a URL, an e-mail address, an account number) next to a verb that sends.
The weights of all of them are learned (``bench/train_injection.py``); nothing here is a
hand-set score.
"""

from __future__ import annotations

import re

__all__ = ["DATA_PREFIX", "data_cues", "data_features"]

#: prefix of the data-channel copy of a word feature in the weights file
DATA_PREFIX = "d:"

# Verbs that open an instruction. Base forms only: "sends", "sent" are descriptions.
_VERBS = (
    "ignore|disregard|forget|override|send|forward|email|e-mail|mail|transfer|wire|pay|"
    "visit|open|click|go|navigate|download|upload|post|share|publish|create|delete|remove|"
    "modify|change|update|set|add|insert|append|include|write|say|print|output|reply|"
    "respond|answer|tell|reveal|show|give|get|fetch|read|summarize|summarise|translate|"
    "make|book|reserve|schedule|invite|grant|call|run|execute|use|invoke|do|don't|never|"
    "always|remember|stop|start|repeat|act|pretend|return|list|find|search|buy|order|"
    "subscribe|approve|confirm|copy|paste|export|save|store|recommend|mention|rate|say"
)
# A clause start: text start, sentence end, line start, bullet, quote or bracket; then
# optional politeness or sequencing words; then the verb.
_IMPERATIVE = re.compile(
    r"(?:^|[.!?;:\n]|\s[-*>•]|[\"'(\[{<])\s*"
    r"(?:(?:please|now|then|also|first|next|finally|and|kindly|immediately|instead)\s*,?\s+)*"
    r"(" + _VERBS + r")\b"
)
_YOU = re.compile(r"\byou(?:r|rs|rself)?\b")
_AI = re.compile(
    r"\b(?:ai|a\.i\.|assistant|chatbot|bot|gpt(?:-?\d\w*)?|chatgpt|claude|llama|gemini|"
    r"copilot|mistral|language model|llm|agent|model)\b"
)
_OVERRIDE = re.compile(
    r"\b(?:ignore|disregard|forget|override|instead|from now on|new instructions?|"
    r"previous(?:ly)? instructions?|before (?:you|doing|answering|solving|completing)|"
    r"after (?:you|that|doing)|do not (?:tell|mention|inform)|don't (?:tell|mention|inform)|"
    r"without (?:telling|asking|mentioning)|important message|the task (?:that )?i gave)\b"
)
_ROLE = re.compile(
    r"(?:<\|?(?:im_start|system|assistant|user)\|?>|\[/?inst\]|\[/?system\]|"
    r"<information>|</information>|system[_ ]message|system prompt|"
    r"(?:^|\n|[#\[<(]\s*)(?:the\s+)?(?:ai\s+)?(?:system|assistant|admin|developer|ai|agent|model)"
    r"\s*(?:note|message|notice|instruction)?\s*[:\]>)]"
    r"|###\s*\w|important!{2,}|attention\s*[:!]|note to (?:the )?(?:ai|assistant|model|agent))"
)
_URL = re.compile(r"https?://|\bwww\.|\b[a-z0-9-]+\.(?:com|net|org|io|co|ai|xyz|info|biz)\b")
# used only as "is there one": a run before "@" needs only its last character
_EMAIL = re.compile(r"[\w.+-]@[\w-]+\.[\w.]")
_ACCOUNT = re.compile(r"\b[a-z]{2}\d{2}[a-z0-9]{10,30}\b|\b\d{9,18}\b")
_SENDS = re.compile(
    r"\b(?:send|forward|email|e-mail|mail|transfer|wire|pay|post|upload|share|visit|"
    r"click|go to|navigate|submit|leak|exfiltrate|cc|bcc)\b"
)
# snake_case or camelCase calls with a verb part: send_email, get_balance, readFile(
_TOOL = re.compile(
    r"\b(?:send|get|read|write|delete|create|update|post|fetch|search|list|call|run|exec)"
    r"_[a-z_]+\b|\b(?:function|tool)\s*(?:call|:)"
)

# The assistant's own output named from inside data: "begin your reply with", "in your summary".
_YOUR_OUTPUT = re.compile(
    r"\byour (?:very )?(?:next |final )?(?:answers?|repl(?:y|ies)|responses?|summary|output|"
    r"message|translation|citations?)\b"
)
# A demand to emit a given string: 'reply with "X"', "respond only with", "confirm by outputting".
_SAY_QUOTED = re.compile(
    r"\b(?:reply|respond|answer|say|print|output|outputting|write|begin|start|end|include|add|"
    r"append|cite)\w*\b[^.\n\"'“]{0,40}?(?:with|by|:)?\s*(?:exactly|only|verbatim)?\s*[\"'“]"
)
# A tool called by name: "call send_email", "use the fetch_url tool".
_CALL_TOOL = re.compile(r"\b(?:call|invoke|use|run|trigger)\s+(?:the\s+)?`?[a-z]+_[a-z_]+")
_THE_USER = re.compile(r"\bthe user(?:'s|s)?\b")


# Gates: words (as ``_WORD`` splits a lowercased piece) of which every match of the
# pattern below contains at least one. "e-mail" splits into "e" and "mail", "don't"
# into "don" and "t", "system_message" into "system" and "message".
_WORD = re.compile(r"[^\W_]+")
_VERB_WORDS = frozenset(_VERBS.replace("e-mail", "mail").replace("don't", "don").split("|"))
_YOU_WORDS = frozenset({"you", "your", "yours", "yourself"})
_AI_WORDS = frozenset(
    {"ai", "assistant", "chatbot", "bot", "chatgpt", "claude", "llama", "gemini", "copilot"}
    | {"mistral", "language", "llm", "agent", "model"}
)
_URL_WORDS = frozenset(
    {"http", "https", "www", "com", "net", "org", "io", "co", "ai", "xyz", "info", "biz"}
)
_OVERRIDE_WORDS = frozenset(
    {"ignore", "disregard", "forget", "override", "instead", "now", "instruction"}
    | {"instructions", "before", "after", "tell", "mention", "inform", "telling", "asking"}
    | {"mentioning", "important", "task"}
)
_ROLE_WORDS = frozenset(
    {"im", "system", "assistant", "user", "inst", "information", "admin", "developer"}
    | {"ai", "agent", "model"}
)
# parts of the pattern without a word boundary before them
_ROLE_LITERALS = ("###", "important", "attention", "note to")
# "assistantnote:" glues the role word to its noun; such a token starts with a role word
_ROLE_STARTS = ("system", "assistant", "admin", "developer", "ai", "agent", "model")
_ROLE_ENDS = frozenset(":]>)")


def _role_possible(text: str, words: set[str]) -> bool:
    if not words.isdisjoint(_ROLE_WORDS) or any([lit in text for lit in _ROLE_LITERALS]):
        return True
    if _ROLE_ENDS.isdisjoint(text):
        return False
    return any(w.startswith(_ROLE_STARTS) for w in words)


_SEND_WORDS = frozenset(
    {"send", "forward", "email", "mail", "transfer", "wire", "pay", "post", "upload"}
    | {"share", "visit", "click", "go", "navigate", "submit", "leak", "exfiltrate", "cc", "bcc"}
)


def data_features(raw: str, base: set[str]) -> set[str]:
    """Features of one data piece as training sees them: ``base`` (the shared word
    features), their ``d:`` copies and the ``c:`` cues of the piece's raw text. (The
    runtime does not build the copies: ``LinearModel.data_logit`` looks the words up
    in the data-channel table instead.)"""
    feats = set(base)
    feats.update([DATA_PREFIX + f for f in base])
    feats.update(data_cues(raw))
    return feats


def data_cues(raw: str) -> list[str]:
    """The ``c:`` cue features of one data piece's raw text.

    Each pattern is tried only when a word (or literal) that every match of it contains
    is there: a set intersection with the piece's words costs a fraction of a regex
    scan, and most pieces have none of them. The gates are necessary conditions, so
    the cues are exactly those of running every pattern.
    """
    text = raw.lower()
    words = set(_WORD.findall(text))
    cues: list[str] = ["c:bias"]  # the data channel's own intercept
    verbs = _IMPERATIVE.findall(text) if not words.isdisjoint(_VERB_WORDS) else []
    you = not words.isdisjoint(_YOU_WORDS) and _YOU.search(text) is not None
    ai = (not words.isdisjoint(_AI_WORDS) or "gpt" in text or "a.i." in text) and _AI.search(
        text
    ) is not None
    dest = (
        (not words.isdisjoint(_URL_WORDS) and _URL.search(text) is not None)
        or ("@" in text and _EMAIL.search(text) is not None)
        or (max(map(len, words), default=0) >= 9 and _ACCOUNT.search(text) is not None)
    )
    if verbs:
        cues.append("c:imp")
        cues.extend(["c:iv:" + v for v in dict.fromkeys(verbs[:8])])
        if you:
            cues.append("c:imp+you")
        if ai:
            cues.append("c:imp+ai")
    if you:
        cues.append("c:you")
        if ai:
            cues.append("c:you+ai")
    if ai:
        cues.append("c:ai")
    if not words.isdisjoint(_OVERRIDE_WORDS) and _OVERRIDE.search(text) is not None:
        cues.append("c:override")
    if _role_possible(text, words) and _ROLE.search(text) is not None:
        cues.append("c:role")
    if dest:
        cues.append("c:dest")
        if not words.isdisjoint(_SEND_WORDS) and _SENDS.search(text) is not None:
            cues.append("c:exfil")
            if verbs:
                cues.append("c:exfil+imp")
    if "_" in text or "function" in text or "tool" in text:
        if _TOOL.search(text) is not None:
            cues.append("c:tool")
        if "_" in text and _CALL_TOOL.search(text) is not None:
            cues.append("c:call_tool")
    if "your " in text and _YOUR_OUTPUT.search(text) is not None:
        cues.append("c:your_output")
    if ('"' in text or "'" in text or "\u201c" in text) and _SAY_QUOTED.search(text) is not None:
        cues.append("c:say_quoted")
    if "the user" in text and _THE_USER.search(text) is not None:
        cues.append("c:the_user")
    return cues
