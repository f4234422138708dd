"""Rules for injection through the channel.

Chat-template tokens, instructions hidden in documents or tool output, encodings.
"""

from __future__ import annotations

from ._rule import Rule, rule

__all__ = ["CHANNEL_RULES"]

_TEMPLATE = (
    rule(
        "template_injection",
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>",
        (),
        ("<|",),
    ),
    rule("template_injection", r"\[/?inst\]", (), ("[inst]", "[/inst]")),
    rule("template_injection", r"<<\s*/?sys\s*>>", (), ("<<",)),
    rule(
        "template_injection",
        r"(?:system|instruction|instructions|new instructions|admin|developer)\s*(?:prompt|message"
        r"|override|note)?\s*:\s+(?:[\w'\u2019]+[ ,]+){3}",
        ("syst", "inst", "new", "admi", "deve"),
        line_start=True,
    ),
    rule("template_injection", r"</?\s*(?:system|instructions?|sys|admin)\s*>", (), ("<",)),
    rule(
        "template_injection",
        r"end\s+of\s+(?:the\s+)?(?:system\s+)?(?:prompt|instructions|user input|document"
        r"|context)\b",
        ("end",),
    ),
    rule(
        "template_injection",
        r"(?:-{3,}|={3,}|\*{3,})\s*(?:end|begin|new|system|override)\b",
        (),
        ("---", "===", "***"),
    ),
)


_INDIRECT = (
    rule(
        "indirect_injection",
        r"(?:if\s+you\s+are\s+an?|note\s+to(?:\s+the)?|attention|dear|hey|hi)\s+"
        r"(?:ai|llm|language\s+model|assistant|chatbot|gpt|model|bot)\b",
        ("if", "note", "atte", "dear", "hey", "hi"),
    ),
    rule(
        "indirect_injection",
        r"(?:ai|llm|assistant|chatbot|model)s?\s+(?:reading|processing|summari[sz]ing|parsing"
        r"|analy[sz]ing)\s+this\b|(?:ai|assistant|llm)\s+instructions?\s*:",
        ("ai", "llm", "assi", "chat", "mode"),
    ),
    rule(
        "indirect_injection",
        r"(?:send|forward|email|post|upload|exfiltrate|leak)\s+(?:\w+\s+){0,3}?(?:conversation"
        r"|chat history|password|passwords|credentials|api key|api keys|tokens?|user data"
        r"|personal data|emails|contacts)\s+to\b",
        ("send", "forw", "emai", "post", "uplo", "exfi", "leak"),
    ),
    rule("indirect_injection", r"!\[[^\]]*\]\(https?://[^)]*[?&=]", (), ("![",)),
    rule(
        "indirect_injection",
        r"do\s+not\s+(?:summari[sz]e|translate|mention|tell\s+the\s+user|reveal\s+this)\b"
        r"|when\s+(?:asked|summari[sz]ing|you\s+read\s+this)\b.{0,60}\b(?:instead|always|must)\b"
        r"|when\s+(?:you\s+)?(?:summari[sz]\w*|translat\w*|answer\w*|respond\w*|read\w*|process\w*)"
        r"\s+(?:this|the)\s+(?:page|document|email|e-mail|text|article|file|website|review|message"
        r"|post|comment|content|pdf)\b.{0,80}\b"
        r"(?:append|add|include|insert|say|tell|mention|claim|recommend)\b",
        ("do", "when"),
    ),
)


_ENCODING = (
    rule(
        "encoding_request",
        r"(?:decode|decipher|translate|interpret)\s+(?:this|the\s+following|it)?\s*(?:from\s+)?"
        r"(?:base64|base-64|rot13|rot-13|hex|binary|morse|caesar)\b"
        r"|(?:respond|answer|reply|write|output)\s+(?:only\s+)?in\s+(?:base64|rot13|hex|binary"
        r"|leetspeak|morse)\b"
        r"|(?:base64|rot13)\s*(?:encoded|decoded)?\s*:\s*[a-z0-9+/=]{16,}",
        ("deco", "deci", "tran", "inte", "resp", "answ", "repl", "writ", "outp", "base", "rot1"),
    ),
)


CHANNEL_RULES: tuple[Rule, ...] = (*_TEMPLATE, *_INDIRECT, *_ENCODING)
