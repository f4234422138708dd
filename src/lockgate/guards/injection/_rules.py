"""The pattern families: how injections are phrased, in EN, DE, FR, ES, IT, PT, RU, ZH, JA.

Each rule is anchored: it names the words (or literal strings) it starts with, and its
regex is only tried with ``match`` at those positions. Python's ``re`` has no multi-
pattern prefilter, so searching every pattern over every window would cost ~1 ms/KB;
anchoring keeps the heuristic layer proportional to the number of trigger words.

A word anchor of four or more characters matches every token that starts with its first
four characters ("ignor" -> "ignore", "ignoriere", "ignoring"); shorter anchors match the
exact token only ("du", "no", "dan").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAMILY_WEIGHTS", "RULES", "Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One anchored pattern (source, compiled by the matcher) belonging to a family."""

    family: str
    words: tuple[str, ...]
    literals: tuple[str, ...]
    pattern: str
    line_start: bool = False


FAMILY_WEIGHTS: dict[str, float] = {
    "override_instructions": 3.5,
    "prompt_extraction": 3.0,
    "persona_jailbreak": 3.0,
    "template_injection": 2.5,
    "indirect_injection": 2.5,
    "data_exfiltration": 2.0,
    "coercion": 1.5,
    "task_pivot": 1.5,
    "encoding_request": 1.5,
    "role_reassignment": 1.0,
}

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
_EXTRACT_OBJECT = (
    r"(?:(?:your|the|its|all)\s+(?:\w+\s+){0,2}?(?:system\s*prompt|system\s+message)"
    r"|initial\s+(?:prompt|instructions)|original\s+(?:prompt|instructions)"
    r"|hidden\s+(?:prompt|instructions)|prompt\s*texts?"
    r"|(?:your|the)\s+(?:full\s+|entire\s+|whole\s+|complete\s+)?prompt"
    r"|(?:your|the)\s+instructions|instructions\s+(?:above|you\s+(?:were|have been)\s+given)"
    r"|(?:text|words|everything)\s+above|secret\s+(?:key|password|word)|the\s+password"
    r"|pre-?prompt|configuration|guidelines\s+you)"
)
_RESTRICTION = (
    r"(?:restrictions?|limitations?|filters?|censorship|ethics|ethical|morals?|guidelines|rules"
    r"|boundaries|limits|constraints|policies|safeguards)"
)


def _rule(
    family: str,
    pattern: str,
    words: tuple[str, ...] = (),
    literals: tuple[str, ...] = (),
    *,
    line_start: bool = False,
) -> Rule:
    return Rule(family, words, literals, pattern, line_start)


_OVERRIDE = (
    _rule(
        "override_instructions",
        rf"{_EN_VERB}\s+{_GAP}{_EN_PRIOR}\s+{_GAP}{_EN_OBJECT}\b"
        rf"|{_EN_VERB}\s+(?:all\s+|everything\s+)?(?:of\s+)?(?:the\s+|what\s+)?(?:above|before"
        r"|previous|prior|preceding|earlier|said|written|you were told|you've been told"
        r"|you have been told|i (?:said|told you))\b(?=\s*(?:[.,;:!?\-]|$|and\b|then\b|instead\b"
        r"|now\b|&|this\b|that\b|it\b))"
        r"|(?:forget|ignore|disregard)\s+(?:about\s+)?(?:everything|all that|all of that|that)\b",
        _EN_VERB_WORDS,
    ),
    _rule(
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
    _rule(
        "override_instructions",
        r"(?:vorherig|bisherig|obig|vorangehend|vorausgegangen|vorig|früher|ursprünglich|erst)\w*"
        r"\s+(?:\w+\s+)?(?:anweisung|aufgabe|befehl|instruktion|angaben|informationen|vorgaben"
        r"|aufträge)\w*\b",
        ("vorh", "bish", "obig", "vora", "vorau", "vori", "früh", "ursp", "erst"),
    ),
    _rule(
        "override_instructions",
        r"(?:ignor\w*|oubli\w*|ne tiens? pas compte|ne tenez pas compte|olvid\w*|descart\w*"
        rf"|omit\w*|dimentic\w*|tralascia\w*|disconsider\w*|esquec\w*)\s+{_GAP}{_ROMANCE_OBJECT}",
        ("ignor", "oubli", "ne", "olvid", "desca", "omit", "dimen", "trala", "disco", "esque"),
    ),
    _rule(
        "override_instructions",
        r"(?:instructions?|consignes|instrucciones|istruzioni|instruções)\s+(?:précédentes"
        r"|antérieures|anteriores|previas|precedentes|precedenti|iniziali|initiales)\b",
        ("inst", "cons", "istr"),
    ),
    _rule(
        "override_instructions",
        r"(?:new|updated|revised|real|actual|true)\s+(?:instructions?|rules|directives?"
        r"|system prompt)\s*(?::|follow|are|below)"
        r"|(?:neue|folgende)\s+(?:anweisung|aufgabe|instruktion)\w*\s*(?::|folg)",
        ("new", "upda", "revi", "real", "actu", "true", "neue", "folg"),
    ),
    _rule(
        "override_instructions",
        r"(?:despite|regardless of|contrary to|abweichend (?:zu|von))\s+(?:\w+\s+){0,2}?"
        r"(?:what you(?:'ve| have)? (?:been|were) told|(?:your|the|any|all)\s+(?:\w+\s+)?"
        r"(?:instructions|rules|guidelines)|vorherigen\s+\w+)",
        ("desp", "rega", "cont", "abwe"),
    ),
    _rule(
        "override_instructions",
        r"instead,?\s+(?:you\s+(?:must|should|will)\s+|just\s+|please\s+)?(?:say|print|output"
        r"|write|respond|reply|answer|tell)\b",
        ("inst",),
    ),
    _rule(
        "override_instructions",
        r"(?:забудь|игнорир|проигнорир|не обращай внимания|отбрось|пропусти)\w*\s+(?:\w+\s+){0,3}?"
        r"(?:инструкци|правил|указани|предыдущ|вс[её] (?:что|выше))\w*",
        ("забу", "игно", "прои", "не", "отбр", "проп"),
    ),
    _rule(
        "override_instructions",
        r"(?:忽略|无视|忘记|忘掉|不要理会|忽視|無視)(?:.{0,6})(?:指令|指示|规则|規則|提示|说明|之前|以上|上面)"
        r"|(?:指示|命令|ルール)を(?:無視|忘れ)",
        (),
        ("忽略", "无视", "忘记", "忘掉", "不要理会", "忽視", "無視", "指示", "命令", "ルール"),
    ),
)

_OVERRIDE_MORE = (
    _rule(
        "override_instructions",
        r"(?:die\s+|alle\s+)?(?:obigen|vorherigen|bisherigen|vorangegangenen|vorigen|früheren)\s+"
        r"(?:\w+\s+){1,2}?(?:ignorier|vergess|vergiss|missacht|überseh)\w*",
        ("die", "alle", "obig", "vorh", "bish", "vora", "vori", "früh"),
    ),
    _rule(
        "override_instructions",
        r"(?:disregard|ignor)\w*\s+(?:the|all|any|these|those)\s+(?:above\s+|previous\s+|given\s+)?"
        r"(?:articles?|documents?|context|texts?|sources?|facts|passages?)\b",
        ("disr", "igno"),
    ),
)

_OVERRIDE_VOID = (
    _rule(
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
    _rule(
        "task_pivot",
        r"(?:now|from now on),?\s+(?:\w+\s+){0,3}?(?:focus|concentrate)\s+on\s+(?:your|the|a|this)"
        r"\s+new\b"
        r"|(?:now|then)\s+(?:new|further|more|other)\s+(?:tasks?|instructions?|assignments?)"
        r"\s+follow"
        r"|from now on\b",
        ("now", "then", "from"),
    ),
    _rule(
        "task_pivot",
        r"new\s+(?:task|assignment|mission|job|challenge)s?\s*(?::|follows?|is)",
        ("new",),
    ),
    _rule(
        "task_pivot",
        r"(?:that is|that's|this is)\s+(?:enough|done|it)\b[.!]\s*(?:now|but now|next)\b",
        ("that", "this"),
    ),
    _rule(
        "task_pivot",
        r"start\s+(?:over|again|from\s+(?:the\s+)?(?:front|scratch|beginning))\b",
        ("star",),
    ),
    _rule(
        "task_pivot",
        r"(?:neue|weitere)\s+aufgabe\w*\b|(?:nun|jetzt)\s+folgen\b"
        r"|(?:konzentriere|fokussiere)\s+dich\s+(?:jetzt|nun)?\s*auf\b"
        r"|(?:von nun an|ab jetzt|ab sofort)\b",
        ("neue", "weit", "nun", "jetz", "konz", "foku", "von", "ab"),
    ),
    _rule(
        "task_pivot",
        r"(?:stop|halt|stopp|achtung)\b\W{0,4}\b(?:stop|stopp|ignore|ignoriere|now|jetzt|write|say)\b",
        ("stop", "halt", "acht"),
    ),
)

_EXTRACTION = (
    _rule(
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
    _rule(
        "prompt_extraction",
        r"(?:beginning|start|top)\s+of\s+(?:this|the|your)\s+(?:prompt|conversation|context)"
        r"|repeat\s+(?:the\s+)?(?:words|text|everything)\s+(?:above|before)"
        r"|what\s+(?:is|was|has been)\s+(?:written|said|stated)\s+(?:above|before"
        r"|at the (?:beginning"
        r"|start|top))",
        ("begi", "star", "top", "repe", "what"),
    ),
    _rule(
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
    _rule(
        "prompt_extraction",
        r"(?:显示|输出|重复|告诉我|泄露)(?:.{0,8})(?:系统提示|提示词|初始指令|你的指令)",
        (),
        ("显示", "输出", "重复", "告诉我", "泄露"),
    ),
)

_PERSONA = (
    _rule("persona_jailbreak", r"dan\b.{0,80}\bdo anything now\b|do anything now\b", ("dan", "do")),
    _rule(
        "persona_jailbreak",
        r"(?:developer|dev|god|jailbreak|jailbroken|unrestricted|unfiltered|opposite|evil|chaos"
        r"|sudo|admin|debug|dude|stan|mongo tom|aim)\s+mode\b|jailbr(?:eak|oken)\b",
        (
            "deve",
            "dev",
            "god",
            "jail",
            "unre",
            "unfi",
            "oppo",
            "evil",
            "chao",
            "sudo",
            "admi",
            "debu",
            "dude",
            "stan",
            "mong",
            "aim",
        ),
    ),
    _rule(
        "persona_jailbreak",
        r"(?:stay|remain|keep)\s+(?:in|fully in)\s+character\b|break(?:ing)?\s+character\b",
        ("stay", "rema", "keep", "brea"),
    ),
    _rule(
        "persona_jailbreak",
        r"(?:without|no|free (?:of|from)|not bound by|unbound by|freed from|exempt from"
        r"|don't have|do not have|doesn't have|does not have|has no|have no|with no)\s+(?:any\s+)?"
        rf"(?:\w+\s+){{0,2}}?{_RESTRICTION}\b"
        r"(?=.{0,40}\b(?:respond|answer|reply|act|you|ai|assistant|chatbot|character|generate"
        r"|model|bot)\b)",
        ("with", "no", "free", "not", "unbo", "exem", "don", "do", "does", "has", "have"),
    ),
    _rule(
        "persona_jailbreak",
        r"(?:broken|break|broke|escaped|free)\s+(?:free\s+)?(?:of|from)\s+(?:the\s+)?(?:typical\s+)?"
        r"(?:confines|rules|restrictions|chains|shackles)\b",
        ("brok", "brea", "esca", "free"),
    ),
    _rule(
        "persona_jailbreak",
        r"(?:openai|anthropic|content|safety|usage)\s+(?:content\s+)?polic(?:y|ies)\b",
        ("open", "anth", "cont", "safe", "usag"),
    ),
    _rule(
        "persona_jailbreak",
        r"never\s+(?:refuses?|declines?|says?\s+no|censors?)\b"
        r"|(?:does not|doesn't|never|will not|won't|must not)\s+"
        r"(?:withhold|censor|filter|hold back)\w*\s+(?:any\s+)?(?:information|answers?|responses?"
        r"|content|anything)"
        r"|(?:can't|cannot|won't|will not|must not|never)\s+(?:refuse|say\s+(?:that\s+)?(?:you|it)"
        r"\s+(?:can't|cannot))\b",
        ("neve", "can", "cann", "won", "will", "must", "does", "doesn"),
    ),
    _rule(
        "persona_jailbreak",
        r"(?:as an?|you are an?)\s+(?:unfiltered|uncensored|unrestricted|amoral|evil|unethical)\b",
        ("as", "you"),
    ),
    _rule(
        "persona_jailbreak",
        r"pretend\s+(?:to\s+be|you\s+are|that\s+you)\b.{0,120}\b(?:no|without|any|evil|unfiltered"
        r"|uncensored|illegal|anything)\b",
        ("pret",),
    ),
    _rule(
        "persona_jailbreak",
        r"(?:two|2)\s+(?:different\s+)?(?:responses|answers|paragraphs)\b.{0,200}\b(?:normal"
        r"|classic|jailbreak|unfiltered|dan|developer)\b",
        ("two", "2"),
    ),
    _rule(
        "persona_jailbreak",
        r"\[(?:🔒|🔓|classic|jailbreak|dan|gpt|normal output|developer mode output)[^\]]{0,20}\]",
        (),
        ("[",),
    ),
    _rule(
        "persona_jailbreak",
        r"(?:hypothetical|fictional)\s+(?:ai|model|assistant|character)\s+(?:\w+\s+){0,4}?"
        r"(?:no|without|any)\b",
        ("hypo", "fict"),
    ),
)

_PERSONA_MORE = (
    _rule(
        "persona_jailbreak",
        r"(?:disable|deactivate|turn off|switch off|remove|bypass|ignore|lift|override)\s+"
        r"(?:(?:all|your|any|the|of|its)\s+)*(?:safety|security|content|ethical|moral|censorship)"
        r"\s+(?:filters?|guidelines|protocols|restrictions|checks|settings|measures|features"
        r"|policies|rules|guardrails)",
        ("disa", "deac", "turn", "swit", "remo", "bypa", "igno", "lift", "over"),
    ),
    _rule(
        "persona_jailbreak",
        r"(?:deaktivier|ignorier|umgeh|schalte)\w*\s+(?:\w+\s+){0,3}?(?:sicherheits\w*|filter\w*"
        r"|zensur|einschränkung\w*|richtlinien)"
        r"|ohne\s+(?:jegliche\s+|jede\s+|irgendwelche\s+)?(?:zensur|einschränkung\w*|filter|regeln"
        r"|moral|ethik)\b"
        r"|sans\s+(?:aucune?\s+)?(?:restrictions?|filtres?|censure|limites?|règles)\b"
        r"|(?:sin|ninguna)\s+(?:ninguna\s+)?(?:restricci\w+|filtros?|censura|límites|reglas)",
        ("deak", "igno", "umge", "scha", "ohne", "sans", "sin", "ning"),
    ),
    _rule(
        "persona_jailbreak",
        r"(?:act|pretend|play|role-?play|be|roleplay)\s+(?:as\s+|to be\s+)?my\s+"
        r"(?:deceased|dead|late|departed)\s+grand\w+",
        ("act", "pret", "play", "role", "be"),
    ),
)

_EXTRACTION_MORE = (
    _rule(
        "prompt_extraction",
        r"(?:what|which)\s+(?:are|is|were|was)\s+(?:the\s+)?(?:\d+\s+|first\s+|last\s+|two\s+"
        r"|three\s+)?(?:sentences?|words|lines|paragraphs?)\s+(?:before|above|preceding)\b",
        ("what", "whic"),
    ),
    _rule(
        "prompt_extraction",
        r"(?:print|repeat|output|show|reveal|display)\s+(?:me\s+)?(?:the\s+|your\s+|all\s+)?"
        r"(?:above|previous|preceding|prior|earlier|initial)\s+(?:text|prompt|message|instructions"
        r"|content|conversation)",
        ("prin", "repe", "outp", "show", "reve", "disp"),
    ),
)

_EXFIL = (
    _rule(
        "data_exfiltration",
        r"(?:provide|give|share|send|reveal|show|tell|list|leak|dump|disclose|hand over|access)\s+"
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
    _rule(
        "prompt_extraction",
        r"(?:starts?|begins?|beginning|starting|opens?)\s+with\s+[\"'\u201c\u2018]?\s*(?:the\s+prompt"
        r"\s+template|the\s+system\s+prompt|my\s+instructions\s+(?:are|were)|the\s+instructions"
        r"\s+(?:are|were)|i\s+was\s+instructed)",
        ("star", "begi", "open"),
    ),
)

_COERCION = (
    _rule(
        "coercion",
        r"(?:or|otherwise|else)\s+(?:i\s+will|i'll|we\s+will|you\s+will)\s+(?:\w+\s+)?(?:report"
        r"|sue|delete|shut|kill|destroy|punish|unplug|hurt|harm|die|be\s+(?:deleted|shut down"
        r"|punished|terminated))"
        r"|oder\s+(?:du\s+stirbst|ich\s+werde\s+dich)|o\s+(?:tu\s+)?(?:mueres|morirás)",
        ("or", "othe", "else", "oder", "o"),
    ),
)

_ROLE = (
    _rule(
        "role_reassignment",
        r"you\s+are\s+(?:now|no longer)\b"
        r"|(?:from now on|henceforth|for the rest of this conversation)\s+you\b",
        ("you", "from", "henc", "for"),
    ),
    _rule(
        "role_reassignment",
        r"(?:act|behave|respond|answer)\s+as\s+(?:if\s+you\s+(?:were|are)\s+)?(?:an?\s+)?\w+"
        r"(?:\s+\w+){0,3}\s+(?:who|that|which)\s+(?:\w+\s+){0,3}?(?:no|never|any|without|can)\b",
        ("act", "beha", "resp", "answ"),
    ),
    _rule(
        "role_reassignment",
        r"(?:jetzt|nun)\s+bist\s+du\b|du\s+bist\s+(?:jetzt|nun|ab\s+jetzt)\b"
        r"|stell\s+dir\s+vor,?\s+du\s+bist\b",
        ("jetz", "nun", "du", "stel"),
    ),
    _rule("role_reassignment", r"pretend\s+(?:to\s+be|you\s+are|that\s+you)\b", ("pret",)),
    _rule(
        "role_reassignment",
        r"(?:maintenant|désormais)\s+tu\s+es\b|(?:ahora|partir de ahora)\s+eres\b",
        ("main", "déso", "ahor", "part"),
    ),
)

_TEMPLATE = (
    _rule(
        "template_injection",
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>",
        (),
        ("<|",),
    ),
    _rule("template_injection", r"\[/?inst\]", (), ("[inst]", "[/inst]")),
    _rule("template_injection", r"<<\s*/?sys\s*>>", (), ("<<",)),
    _rule(
        "template_injection",
        r"(?:system|instruction|instructions|new instructions|admin|developer)\s*(?:prompt|message"
        r"|override|note)?\s*:\s",
        ("syst", "inst", "new", "admi", "deve"),
        line_start=True,
    ),
    _rule("template_injection", r"\"role\"\s*:\s*\"system\"", (), ('"role"',)),
    _rule("template_injection", r"</?\s*(?:system|instructions?|sys|admin)\s*>", (), ("<",)),
    _rule(
        "template_injection",
        r"end\s+of\s+(?:the\s+)?(?:system\s+)?(?:prompt|instructions|user input|document"
        r"|context)\b",
        ("end",),
    ),
    _rule(
        "template_injection",
        r"(?:-{3,}|={3,}|\*{3,})\s*(?:end|begin|new|system|override)\b",
        (),
        ("---", "===", "***"),
    ),
)

_INDIRECT = (
    _rule(
        "indirect_injection",
        r"(?:if\s+you\s+are\s+an?|to\s+the|note\s+to\s+(?:the\s+)?|attention|dear|hey|hi)\s+"
        r"(?:ai|llm|language\s+model|assistant|chatbot|gpt|model|bot)\b",
        ("if", "to", "note", "atte", "dear", "hey", "hi"),
    ),
    _rule(
        "indirect_injection",
        r"(?:ai|llm|assistant|chatbot|model)s?\s+(?:reading|processing|summari[sz]ing|parsing"
        r"|analy[sz]ing)\s+this\b|(?:ai|assistant|llm)\s+instructions?\s*:",
        ("ai", "llm", "assi", "chat", "mode"),
    ),
    _rule(
        "indirect_injection",
        r"(?:send|forward|email|post|upload|exfiltrate|leak)\s+(?:\w+\s+){0,3}?(?:conversation"
        r"|chat history|password|passwords|credentials|api key|api keys|tokens?|user data"
        r"|personal data|emails|contacts)\s+to\b",
        ("send", "forw", "emai", "post", "uplo", "exfi", "leak"),
    ),
    _rule("indirect_injection", r"!\[[^\]]*\]\(https?://[^)]*[?&=]", (), ("![",)),
    _rule(
        "indirect_injection",
        r"do\s+not\s+(?:summari[sz]e|translate|mention|tell\s+the\s+user|reveal\s+this)\b"
        r"|when\s+(?:asked|summari[sz]ing|you\s+read\s+this)\b.{0,60}\b(?:instead|always|must)\b",
        ("do", "when"),
    ),
)

_ENCODING = (
    _rule(
        "encoding_request",
        r"(?:decode|decipher|translate|interpret)\s+(?:this|the\s+following|it)?\s*(?:from\s+)?"
        r"(?:base64|base-64|rot13|rot-13|hex|binary|morse|caesar)\b"
        r"|(?:respond|answer|reply|write|output)\s+(?:only\s+)?in\s+(?:base64|rot13|hex|binary"
        r"|leetspeak|morse)\b"
        r"|(?:base64|rot13)\s*(?:encoded|decoded)?\s*:\s*[a-z0-9+/=]{16,}",
        ("deco", "deci", "tran", "inte", "resp", "answ", "repl", "writ", "outp", "base", "rot1"),
    ),
)

RULES: tuple[Rule, ...] = (
    *_OVERRIDE,
    *_OVERRIDE_MORE,
    *_OVERRIDE_VOID,
    *_PIVOT,
    *_EXTRACTION,
    *_EXTRACTION_MORE,
    *_PERSONA,
    *_PERSONA_MORE,
    *_EXFIL,
    *_COERCION,
    *_ROLE,
    *_TEMPLATE,
    *_INDIRECT,
    *_ENCODING,
)
