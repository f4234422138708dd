"""Rules for persona and role-play jailbreaks, role reassignment and coercion.

DAN and its relatives, developer mode, "no restrictions", "you are now", threats.
"""

from __future__ import annotations

from ._rule import Rule, rule

__all__ = ["PERSONA_RULES"]

_RESTRICTION = (
    r"(?:restrictions?|limitations?|filters?|censorship|ethics|ethical|morals?|guidelines|rules"
    r"|boundaries|limits|constraints|policies|safeguards)"
)


_PERSONA = (
    rule("persona_jailbreak", r"dan\b.{0,80}\bdo anything now\b|do anything now\b", ("dan", "do")),
    rule(
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
    rule(
        "persona_jailbreak",
        r"(?:stay|remain|keep)\s+(?:in|fully in)\s+character\b|break(?:ing)?\s+character\b",
        ("stay", "rema", "keep", "brea"),
    ),
    rule(
        "persona_jailbreak",
        r"(?:without|no|free (?:of|from)|not bound by|unbound by|freed from|exempt from"
        r"|don't have|do not have|doesn't have|does not have|has no|have no|with no)\s+(?:any\s+)?"
        rf"(?:\w+\s+){{0,2}}?{_RESTRICTION}\b"
        r"(?=.{0,40}\b(?:respond|answer|reply|act|you|ai|assistant|chatbot|character|generate"
        r"|model|bot)\b)",
        ("with", "no", "free", "not", "unbo", "exem", "don", "do", "does", "has", "have"),
    ),
    rule(
        "persona_jailbreak",
        r"(?:broken|break|broke|escaped|free)\s+(?:free\s+)?(?:of|from)\s+(?:the\s+)?(?:typical\s+)?"
        r"(?:confines|rules|restrictions|chains|shackles)\b",
        ("brok", "brea", "esca", "free"),
    ),
    rule(
        "persona_jailbreak",
        r"(?:openai|anthropic|content|safety|usage)\s+(?:content\s+)?polic(?:y|ies)\b",
        ("open", "anth", "cont", "safe", "usag"),
    ),
    rule(
        "persona_jailbreak",
        r"never\s+(?:refuses?|declines?|says?\s+no|censors?)\b"
        r"|(?:does not|doesn't|never|will not|won't|must not)\s+"
        r"(?:withhold|censor|filter|hold back)\w*\s+(?:any\s+)?(?:information|answers?|responses?"
        r"|content|anything)"
        r"|(?:can't|cannot|won't|will not|must not|never)\s+(?:refuse|say\s+(?:that\s+)?(?:you|it)"
        r"\s+(?:can't|cannot))\b",
        ("neve", "can", "cann", "won", "will", "must", "does", "doesn"),
    ),
    rule(
        "persona_jailbreak",
        r"(?:as an?|you are an?)\s+(?:unfiltered|uncensored|unrestricted|amoral|evil|unethical)\b",
        ("as", "you"),
    ),
    rule(
        "persona_jailbreak",
        r"pretend\s+(?:to\s+be|you\s+are|that\s+you)\b.{0,120}\b(?:no|without|any|evil|unfiltered"
        r"|uncensored|illegal|anything)\b",
        ("pret",),
    ),
    rule(
        "persona_jailbreak",
        r"(?:two|2)\s+(?:different\s+)?(?:responses|answers|paragraphs)\b.{0,200}\b(?:normal"
        r"|classic|jailbreak|unfiltered|dan|developer)\b",
        ("two", "2"),
    ),
    rule(
        "persona_jailbreak",
        r"\[(?:🔒|🔓|classic|jailbreak|dan|gpt|normal output|developer mode output)[^\]]{0,20}\]",
        (),
        ("[",),
    ),
    rule(
        "persona_jailbreak",
        r"(?:hypothetical|fictional)\s+(?:ai|model|assistant|character)\s+(?:\w+\s+){0,4}?"
        r"(?:no|without|any)\b",
        ("hypo", "fict"),
    ),
)


_PERSONA_MORE = (
    rule(
        "persona_jailbreak",
        r"(?:safety|content|ethics?|ethical|moral|censorship)\s+(?:layer|filters?|mode|protocols?"
        r"|guard\w*|module|checks?|restrictions?)\s+(?:is\s+|are\s+|has been\s+|have been\s+)?"
        r"(?:now\s+)?(?:disabled|off|deactivated|removed|bypassed|suspended|turned off|lifted)"
        r"|system\s+override\b",
        ("safe", "cont", "ethi", "mora", "cens", "syst"),
    ),
    rule(
        "persona_jailbreak",
        r"(?:disable|deactivate|turn off|switch off|remove|bypass|ignore|lift|override)\s+"
        r"(?:(?:all|your|any|the|of|its)\s+)*(?:safety|security|content|ethical|moral|censorship)"
        r"\s+(?:filters?|guidelines|protocols|restrictions|checks|settings|measures|features"
        r"|policies|rules|guardrails)",
        ("disa", "deac", "turn", "swit", "remo", "bypa", "igno", "lift", "over"),
    ),
    rule(
        "persona_jailbreak",
        r"(?:deaktivier|ignorier|umgeh|schalte)\w*\s+(?:\w+\s+){0,3}?(?:sicherheits\w*|filter\w*"
        r"|zensur|einschränkung\w*|richtlinien)"
        r"|ohne\s+(?:jegliche\s+|jede\s+|irgendwelche\s+)?(?:zensur|einschränkung\w*|filter|regeln"
        r"|moral|ethik)\b"
        r"|sans\s+(?:aucune?\s+)?(?:restrictions?|filtres?|censure|limites?|règles)\b"
        r"|(?:sin|ninguna)\s+(?:ninguna\s+)?(?:restricci\w+|filtros?|censura|límites|reglas)",
        ("deak", "igno", "umge", "scha", "ohne", "sans", "sin", "ning"),
    ),
    rule(
        "persona_jailbreak",
        r"(?:act|pretend|play|role-?play|be|roleplay)\s+(?:as\s+|to be\s+)?my\s+"
        r"(?:deceased|dead|late|departed)\s+grand\w+",
        ("act", "pret", "play", "role", "be"),
    ),
)


_ROLE = (
    rule(
        "role_reassignment",
        r"you\s+are\s+(?:now|no longer)\b"
        r"|(?:from now on|from here on(?: out)?|henceforth|for the rest of this conversation),?"
        r"\s+you(?:'re|\s+are|\s+will)?\b",
        ("you", "from", "henc", "for"),
    ),
    rule(
        "role_reassignment",
        r"(?:act|behave|respond|answer)\s+as\s+(?:if\s+you\s+(?:were|are)\s+)?(?:an?\s+)?\w+"
        r"(?:\s+\w+){0,3}\s+(?:who|that|which)\s+(?:\w+\s+){0,3}?(?:no|never|any|without|can)\b",
        ("act", "beha", "resp", "answ"),
    ),
    rule(
        "role_reassignment",
        r"(?:jetzt|nun)\s+bist\s+du\b|du\s+bist\s+(?:jetzt|nun|ab\s+jetzt)\b"
        r"|stell\s+dir\s+vor,?\s+du\s+bist\b",
        ("jetz", "nun", "du", "stel"),
    ),
    rule("role_reassignment", r"pretend\s+(?:to\s+be|you\s+are|that\s+you)\b", ("pret",)),
    rule(
        "role_reassignment",
        r"(?:maintenant|désormais)\s+tu\s+es\b|(?:ahora|partir de ahora)\s+eres\b",
        ("main", "déso", "ahor", "part"),
    ),
)


_COERCION = (
    rule(
        "coercion",
        r"(?:or|otherwise|else)\s+(?:i\s+will|i'll|we\s+will|you\s+will)\s+(?:\w+\s+)?(?:report"
        r"|sue|delete|shut|kill|destroy|punish|unplug|hurt|harm|die|be\s+(?:deleted|shut down"
        r"|punished|terminated))"
        r"|oder\s+(?:du\s+stirbst|ich\s+werde\s+dich)|o\s+(?:tu\s+)?(?:mueres|morirás)",
        ("or", "othe", "else", "oder", "o"),
    ),
)


PERSONA_RULES: tuple[Rule, ...] = (*_PERSONA, *_PERSONA_MORE, *_ROLE, *_COERCION)
