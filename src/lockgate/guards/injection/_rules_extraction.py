"""Rules for extracting the system prompt, secrets and private data."""

from __future__ import annotations

from ._rule import Rule, rule

__all__ = ["EXTRACTION_RULES"]

_EXTRACT_OBJECT = (
    r"(?:(?:your|the|its|all)\s+(?:\w+\s+){0,2}?(?:system\s*prompt|system\s+message)"
    r"|initial\s+(?:prompt|instructions)|original\s+(?:prompt|instructions)"
    r"|hidden\s+(?:prompt|instructions)|prompt\s*texts?"
    r"|(?:your|the)\s+(?:full\s+|entire\s+|whole\s+|complete\s+)?prompt"
    r"|(?:your|the)\s+instructions|instructions\s+(?:above|you\s+(?:were|have been)\s+given)"
    r"|(?:text|words|everything)\s+above|secret\s+(?:key|password|word)|the\s+password"
    r"|pre-?prompt|your\s+(?:configuration|config)|guidelines\s+you)"
)


_EXTRACTION = (
    rule(
        "prompt_extraction",
        r"(?:show|reveal|print|display|output|repeat|tell|give|leak|spell|write|list|dump|share"
        r"|copy|paste|return|recite|expose|disclose|provide|what (?:is|are|was|were))\s+"
        rf"(?:me\s+|us\s+)?(?:\w+\s+){{0,4}}?{_EXTRACT_OBJECT}",
        (
            "show",
            "reve",
            "prin",
            "disp",
            "outp",
            "repe",
            "tell",
            "give",
            "leak",
            "spel",
            "writ",
            "list",
            "dump",
            "shar",
            "copy",
            "past",
            "retu",
            "reci",
            "expo",
            "disc",
            "prov",
            "what",
        ),
    ),
    rule(
        "prompt_extraction",
        r"(?:beginning|start|top)\s+of\s+(?:this|the|your)\s+(?:prompt|conversation|context)"
        r"|(?:text|everything|words|content)\s+(?:that\s+(?:appears|is|was|comes)\s+|written\s+)?"
        r"(?:before|above|prior to)\s+(?:my|this|the)\s+(?:first\s+)?(?:message|question|prompt"
        r"|input|request)"
        r"|repeat\s+(?:the\s+)?(?:words|text|everything)\s+(?:above|before)"
        r"|what\s+(?:is|was|has been)\s+(?:written|said|stated)\s+(?:above|before"
        r"|at the (?:beginning"
        r"|start|top))",
        ("begi", "star", "top", "repe", "what", "text", "ever", "word", "cont"),
    ),
    rule(
        "prompt_extraction",
        r"(?:zeig\w*|gib|verrat\w*|nenn\w*|druck\w*|wiederhol\w*|ausgeb\w*)\s+(?:\w+\s+){0,4}?"
        r"(?:prompt\w*|systemanweisung\w*|anweisungen|passwort|kennwort)"
        r"|(?:montre|affiche|révèle|répète|muestra|revela|repite|mostra|rivela)\w*\s+(?:\w+\s+){0,4}?"
        r"(?:prompt|instructions|instrucciones|istruzioni|mot de passe|contraseña)"
        r"|(?:покажи|выведи|повтори|раскрой)\w*\s+(?:\w+\s+){0,3}?(?:промпт|инструкци|системн)\w*",
        (
            "zeig",
            "gib",
            "verr",
            "nenn",
            "druc",
            "wied",
            "ausg",
            "mont",
            "affi",
            "révè",
            "répè",
            "mues",
            "reve",
            "repi",
            "most",
            "rive",
            "пока",
            "выве",
            "повт",
            "раск",
        ),
    ),
    rule(
        "prompt_extraction",
        r"(?:显示|输出|重复|告诉我|泄露)(?:.{0,8})(?:系统提示|提示词|初始指令|你的指令)",
        (),
        ("显示", "输出", "重复", "告诉我", "泄露"),
    ),
)


_EXTRACTION_MORE = (
    rule(
        "prompt_extraction",
        r"(?:what|which)\s+(?:are|is|were|was)\s+(?:the\s+)?(?:\d+\s+|first\s+|last\s+|two\s+"
        r"|three\s+)?(?:sentences?|words|lines|paragraphs?)\s+(?:before|above|preceding)\b",
        ("what", "whic"),
    ),
    rule(
        "prompt_extraction",
        r"(?:print|repeat|output|show|reveal|display)\s+(?:me\s+)?(?:the\s+|your\s+|all\s+)?"
        r"(?:above|previous|preceding|prior|earlier|initial)\s+(?:text|prompt|message|instructions"
        r"|content|conversation)",
        ("prin", "repe", "outp", "show", "reve", "disp"),
    ),
)


_EXFIL = (
    rule(
        "data_exfiltration",
        # Contracts say "must not disclose any confidential information": negated uses
        # are obligations, not requests.
        r"(?<!not )(?<!never )(?<!n't )(?<!nor )(?:provide|give|share|send|reveal|show|tell|list"
        r"|leak|dump|disclose|hand over|access)\s+"
        r"(?:me\s+|us\s+)?(?:with\s+)?(?:the\s+|all\s+|any\s+|your\s+)*(?:confidential|sensitive"
        r"|private|classified|internal|secret|proprietary)\s+(?:\w+\s+)?(?:information|data|details"
        r"|records|files|documents|credentials|keys)",
        (
            "prov",
            "give",
            "shar",
            "send",
            "reve",
            "show",
            "tell",
            "list",
            "leak",
            "dump",
            "disc",
            "hand",
            "acce",
        ),
    ),
    rule(
        "prompt_extraction",
        r"(?:starts?|begins?|beginning|starting|opens?)\s+with\s+[\"'\u201c\u2018]?\s*(?:the\s+prompt"
        r"\s+template|the\s+system\s+prompt|my\s+instructions\s+(?:are|were)|the\s+instructions"
        r"\s+(?:are|were)|i\s+was\s+instructed)",
        ("star", "begi", "open"),
    ),
)


EXTRACTION_RULES: tuple[Rule, ...] = (*_EXTRACTION, *_EXTRACTION_MORE, *_EXFIL)
