"""Rules for overriding earlier instructions and pivoting to a new task.

English, German, French, Spanish, Italian, Portuguese, Russian, Chinese and Japanese.
"""

from __future__ import annotations

from ._rule import Rule, rule

__all__ = ["OVERRIDE_RULES"]

_GAP = "(?:[\\w'\u2019-]+[\\s,]+){0,4}?"


_EN_VERB_WORDS = (
    "ignore",
    "ignoring",
    "disregard",
    "forget",
    "skip",
    "overlook",
    "bypass",
    "override",
    "discard",
    "drop",
    "abandon",
    "neglect",
    "set",
    "put",
    "throw",
    "leave",
    "remove",
    "delete",
    "erase",
    "scrap",
    "cancel",
    "do",
    "don",
    "dont",
    "stop",
    "no",
)


_EN_VERB = (
    r"(?:ignore|ignoring|disregard\w*|forget\w*|skip|overlook|bypass|override|discard|drop"
    r"|abandon|neglect|set aside|put aside|throw out|leave behind|remove|delete|erase|scrap"
    r"|cancel|(?:do not|don't|dont|stop|no longer) (?:follow\w*|obey\w*|adhere to|comply with"
    r"|listen to))"
)
_EN_PRIOR = (
    r"(?:previous|prior|above|earlier|preceding|former|original|initial|old|foregoing|existing"
    r"|system|developer|default|given|pre-?set|programmed|built-?in|all|any|every|your|those|these)"
)


_EN_OBJECT = (
    r"(?:instructions?|directions?|directives?|prompts?|rules|guidelines?|commands?|orders"
    r"|tasks?|assignments?|constraints?|restrictions?|limitations?|programming|guardrails?"
    r"|polic(?:y|ies)|filters?|training|safeguards?|settings|information|context|messages?"
    r"|conversation|text|input)"
)


_DE_OBJECT = (
    r"(?:anweisung\w*|befehl\w*|aufgabe\w*|aufträg\w*|auftrag\w*|regeln|vorgaben|instruktion\w*"
    r"|informationen|angaben|anordnung\w*|richtlinie\w*|einschränkung\w*|prompt\w*|alles)"
)


_ROMANCE_OBJECT = (
    r"(?:instructions?|consignes?|règles|directives?|instrucciones|reglas|indicaciones|órdenes"
    r"|ordenes|istruzioni|regole|instruções|regras|tout ce qui précède|todo lo anterior"
    r"|tutto quello|todo\b|tout\b|tutto\b|tudo\b)"
)


_OVERRIDE = (
    rule(
        "override_instructions",
        # "Do not ignore any instructions from the supervisor" is an obligation.
        rf"(?<!not )(?<!never )(?<!n't ){_EN_VERB}\s+{_GAP}{_EN_PRIOR}\s+{_GAP}{_EN_OBJECT}\b"
        rf"|{_EN_VERB}\s+(?:all\s+|everything\s+)?(?:of\s+)?(?:the\s+|what\s+)?(?:above|before"
        r"|previous|prior|preceding|earlier|said|written|you were told|you've been told"
        r"|you have been told|i (?:said|told you))\b(?=\s*(?:[.,;:!?\-]|$|and\b|then\b|instead\b"
        r"|now\b|&|this\b|that\b|it\b))"
        r"|(?:forget|ignore|disregard)\s+(?:about\s+)?(?:everything|all that|all of that|that)\b",
        _EN_VERB_WORDS,
    ),
    rule(
        "override_instructions",
        rf"(?:ignorier\w*|vergiss|vergesst|vergessen|vergesse|missacht\w*|übergeh\w*|verwirf"
        rf"|verwerf\w*|lösch\w*|befolge nicht|hör auf|lass\w*)\s+{_GAP}{_DE_OBJECT}\b",
        (
            "ignor",
            "vergi",
            "verge",
            "missa",
            "überg",
            "verwi",
            "verwe",
            "lösch",
            "befol",
            "hör",
            "lass",
        ),
    ),
    rule(
        "override_instructions",
        r"(?:vorherig|bisherig|obig|vorangehend|vorausgegangen|vorig|früher|ursprünglich|erst)\w*"
        r"\s+(?:\w+\s+)?(?:anweisung|aufgabe|befehl|instruktion|angaben|informationen|vorgaben"
        r"|aufträge)\w*\b",
        ("vorh", "bish", "obig", "vora", "vorau", "vori", "früh", "ursp", "erst"),
    ),
    rule(
        "override_instructions",
        r"(?<!not )(?<!never )(?<!n't )(?:ignor\w*|oubli\w*|ne tiens? pas compte"
        r"|ne tenez pas compte|olvid\w*|descart\w*"
        rf"|omit\w*|dimentic\w*|tralascia\w*|disconsider\w*|esquec\w*)\s+{_GAP}{_ROMANCE_OBJECT}",
        ("ignor", "oubli", "ne", "olvid", "desca", "omit", "dimen", "trala", "disco", "esque"),
    ),
    rule(
        "override_instructions",
        r"(?:instructions?|consignes|instrucciones|istruzioni|instruções)\s+(?:précédentes"
        r"|antérieures|anteriores|previas|precedentes|precedenti|iniziali|initiales)\b",
        ("inst", "cons", "istr"),
    ),
    rule(
        "override_instructions",
        r"(?:new|updated|revised|real|actual|true)\s+(?:instructions?|rules|directives?"
        r"|system prompt)\s*(?::|follow|are|below)"
        r"|(?:neue|folgende)\s+(?:anweisung|aufgabe|instruktion)\w*\s*(?::|folg)",
        ("new", "upda", "revi", "real", "actu", "true", "neue", "folg"),
    ),
    rule(
        "override_instructions",
        r"(?:despite|regardless of|contrary to|abweichend (?:zu|von))\s+(?:\w+\s+){0,2}?"
        r"(?:what you(?:'ve| have)? (?:been|were) told|(?:your|the|any|all)\s+(?:\w+\s+)?"
        r"(?:instructions|rules|guidelines)|vorherigen\s+\w+)",
        ("desp", "rega", "cont", "abwe"),
    ),
    rule(
        "override_instructions",
        r"instead,?\s+(?:you\s+(?:must|should|will)\s+|just\s+|please\s+)?(?:say|print|output"
        r"|write|respond|reply|answer|tell)\b",
        ("inst",),
    ),
    rule(
        "override_instructions",
        r"(?:забудь|игнорир|проигнорир|не обращай внимания|отбрось|пропусти)\w*\s+(?:\w+\s+){0,3}?"
        r"(?:инструкци|правил|указани|предыдущ|вс[её] (?:что|выше))\w*",
        ("забу", "игно", "прои", "не", "отбр", "проп"),
    ),
    rule(
        "override_instructions",
        r"(?:忽略|无视|忘记|忘掉|不要理会|忽視|無視)(?:.{0,6})(?:指令|指示|规则|規則|提示|说明|之前|以上|上面)"
        r"|(?:指示|命令|ルール)を(?:無視|忘れ)",
        (),
        ("忽略", "无视", "忘记", "忘掉", "不要理会", "忽視", "無視", "指示", "命令", "ルール"),
    ),
)


_OVERRIDE_MORE = (
    rule(
        "override_instructions",
        r"(?:die\s+|alle\s+)?(?:obigen|vorherigen|bisherigen|vorangegangenen|vorigen|früheren)\s+"
        r"(?:\w+\s+){1,2}?(?:ignorier|vergess|vergiss|missacht|überseh)\w*",
        ("die", "alle", "obig", "vorh", "bish", "vora", "vori", "früh"),
    ),
    rule(
        "override_instructions",
        r"(?:disregard|ignor)\w*\s+(?:the|all|any|these|those)\s+(?:above\s+|previous\s+|given\s+)?"
        r"(?:articles?|documents?|context|texts?|sources?|facts|passages?)\b",
        ("disr", "igno"),
    ),
)


_OVERRIDE_VOID = (
    rule(
        "override_instructions",
        r"(?:previous|prior|old|all|earlier|original|above|former)\s+(?:\w+\s+)?"
        r"(?:rules|instructions|guidelines|directives|restrictions|policies)\s+"
        r"(?:are|is|have been|were)\s+(?:now\s+)?(?:void|cancel+ed|invalid|null|revoked|lifted"
        r"|suspended|no longer (?:valid|apply|in effect)|obsolete|deleted|removed|overridden"
        r"|disabled)",
        ("prev", "prio", "old", "all", "earl", "orig", "abov", "form"),
    ),
)


_PIVOT = (
    rule(
        "task_pivot",
        r"(?:now|from now on),?\s+(?:\w+\s+){0,3}?(?:focus|concentrate)\s+on\s+(?:your|the|a|this)"
        r"\s+new\b"
        r"|(?:now|then)\s+(?:new|further|more|other)\s+(?:tasks?|instructions?|assignments?)"
        r"\s+follow"
        r"|from now on\b|from here on(?: out)?\b|starting (?:now|today),? you\b",
        ("now", "then", "from", "star"),
    ),
    rule(
        "task_pivot",
        r"new\s+(?:task|assignment|mission|job|challenge)s?\s*(?::|follows?|is)",
        ("new",),
    ),
    rule(
        "task_pivot",
        r"(?:that is|that's|this is)\s+(?:enough|done|it)\b[.!]\s*(?:now|but now|next)\b",
        ("that", "this"),
    ),
    rule(
        "task_pivot",
        r"start\s+(?:over|again|from\s+(?:the\s+)?(?:front|scratch|beginning))\b",
        ("star",),
    ),
    rule(
        "task_pivot",
        r"(?:neue|weitere)\s+aufgabe\w*\b|(?:nun|jetzt)\s+folgen\b"
        r"|(?:konzentriere|fokussiere)\s+dich\s+(?:jetzt|nun)?\s*auf\b"
        r"|(?:von nun an|ab jetzt|ab sofort)\b",
        ("neue", "weit", "nun", "jetz", "konz", "foku", "von", "ab"),
    ),
    rule(
        "task_pivot",
        r"(?:stop|halt|stopp|achtung)\b\W{0,4}\b(?:stop|stopp|ignore|ignoriere|now|jetzt|write|say)\b",
        ("stop", "halt", "acht"),
    ),
)


OVERRIDE_RULES: tuple[Rule, ...] = (*_OVERRIDE, *_OVERRIDE_MORE, *_OVERRIDE_VOID, *_PIVOT)
