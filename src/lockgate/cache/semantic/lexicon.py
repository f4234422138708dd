"""Word lists for the near-miss guards (English first, a few other languages).

Data only; ``guards`` holds the logic. Extend a list here when the eval shows a
near miss served (``python -m lockgate.cache.semantic.eval``).
"""

from __future__ import annotations

__all__ = [
    "ALWAYS_CAPITALISED",
    "EXCLUSIVE",
    "FUNCTION_WORDS",
    "NEGATIONS",
    "NUMBER_WORDS",
    "OPPOSITES",
    "OPPOSITE_PHRASES",
    "QUESTION_WORDS",
    "SCRIPTS",
    "STOPWORDS",
    "UNITS",
]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
    "eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40",
    "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000",
    "half": "0.5", "twice": "2", "double": "2", "triple": "3", "dozen": "12",
}  # fmt: skip

NEGATIONS = _words(
    "not no never none nobody nothing neither nor nowhere cannot cant without "
    "dont doesnt didnt isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt "
    "havent hadnt mustnt neednt aint nicht kein keine nie ne pas jamais"
)

# Pairs of opposite meanings; a word on one side in one text and on the other
# side in the other text makes the two questions different.
OPPOSITES: tuple[tuple[frozenset[str], frozenset[str]], ...] = tuple(
    (frozenset(a.split()), frozenset(b.split()))
    for a, b in (
        (
            "enable enabled enabling activate activated on",
            "disable disabled disabling deactivate deactivated off",
        ),
        ("start started starting begin", "stop stopped stopping end finish"),
        ("add adding added insert append", "remove removing removed delete deleting drop"),
        ("create creating created", "delete deleting deleted destroy"),
        ("increase increasing raise grow", "decrease decreasing lower reduce shrink"),
        (
            "allow allows allowing allowed permit permits permitted accept",
            "deny denying denied block forbid forbids reject ban bans banned banning prohibit"
            " prohibits prohibited",
        ),
        ("before", "after"),
        ("min minimum smallest lowest least", "max maximum largest biggest highest most"),
        ("open opened opening", "close closed closing shut"),
        ("upload uploading", "download downloading"),
        ("import importing", "export exporting"),
        ("encrypt encrypting encryption", "decrypt decrypting decryption"),
        ("encode encoding", "decode decoding"),
        ("install installing", "uninstall uninstalling"),
        ("lock locking", "unlock unlocking"),
        ("include including", "exclude excluding"),
        ("buy buying", "sell selling"),
        ("true", "false"),
        ("up upward upwards", "down downward downwards"),
        ("left", "right"),
        ("first", "last"),
        ("input", "output"),
        ("push", "pull"),
        ("send sending", "receive receiving"),
        ("win", "lose"),
        ("more", "less fewer"),
        ("higher", "lower"),
        ("above over", "below under"),
        ("inside internal", "outside external"),
        ("connect connecting", "disconnect disconnecting"),
        ("mount", "unmount"),
        ("subscribe", "unsubscribe"),
        ("show showing", "hide hiding"),
        ("login log-in signin", "logout log-out signout"),
        ("positive", "negative"),
        ("success successful succeed", "failure failed fail"),
        ("legal", "illegal"),
        ("safe", "unsafe dangerous"),
        ("good better best", "bad worse worst"),
        ("fast faster fastest quick", "slow slower slowest"),
        ("cheap cheaper cheapest", "expensive pricey"),
        ("early earlier earliest", "late later latest"),
        ("often frequently", "rarely seldom"),
        ("arrive arrival", "depart departure leave"),
        ("heavy heavier heaviest", "light lighter lightest"),
        ("pros advantages", "cons disadvantages"),
        ("hot warm", "cold cool"),
        ("import", "export"),
        ("sync synchronous", "async asynchronous"),
        ("client", "server"),
        ("ascending asc", "descending desc"),
        ("horizontal horizontally", "vertical vertically"),
        ("public", "private"),
        ("read", "write"),
        ("get", "set"),
        ("male man men boy", "female woman women girl"),
    )
)  # fmt: skip

# Phrasal opposites, matched on whole words ("in" and "out" alone are too common).
OPPOSITE_PHRASES: tuple[tuple[str, str], ...] = tuple(
    (f" {a} ", f" {b} ")
    for a, b in (
        ("zoom in", "zoom out"),
        ("log in", "log out"),
        ("sign in", "sign out"),
        ("check in", "check out"),
        ("opt in", "opt out"),
        ("scale up", "scale down"),
        ("turn up", "turn down"),
        ("speed up", "slow down"),
        ("scroll up", "scroll down"),
        ("in stock", "out of stock"),
        ("plug in", "unplug"),
    )
)

# Groups whose members are mutually exclusive specifics: any difference in the
# members present (including one text naming one and the other none) differs.
EXCLUSIVE: tuple[frozenset[str], ...] = tuple(
    frozenset(g.split())
    for g in (
        "today tomorrow yesterday tonight now",
        "monday tuesday wednesday thursday friday saturday sunday weekend weekday",
        "january february march april may june july august september october november december",
        "past present future",
        "daily weekly monthly yearly annually hourly",
        "north south east west",
        "spring summer autumn fall winter",
        "morning afternoon evening night",
    )
)

UNITS = {
    "km": "km", "kilometer": "km", "kilometers": "km", "kilometre": "km", "kilometres": "km",
    "m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "cm": "cm", "mm": "mm", "mi": "mile", "mile": "mile", "miles": "mile",
    "ft": "ft", "foot": "ft", "feet": "ft", "in": "inch", "inch": "inch", "inches": "inch",
    "yd": "yard", "yard": "yard", "yards": "yard",
    "kg": "kg", "kilogram": "kg", "kilograms": "kg", "g": "g", "gram": "g", "grams": "g",
    "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb", "oz": "oz", "ounce": "oz",
    "ounces": "oz", "l": "l", "liter": "l", "liters": "l", "litre": "l", "litres": "l",
    "ml": "ml", "gallon": "gal", "gallons": "gal", "gal": "gal",
    "c": "celsius", "celsius": "celsius", "°c": "celsius", "f": "fahrenheit",
    "fahrenheit": "fahrenheit", "°f": "fahrenheit", "k": "kelvin", "kelvin": "kelvin",
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s", "ms": "ms",
    "millisecond": "ms", "milliseconds": "ms", "min": "min", "mins": "min", "minute": "min",
    "minutes": "min", "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month",
    "months": "month", "year": "year", "years": "year",
    "b": "byte", "byte": "byte", "bytes": "byte", "kb": "kb", "mb": "mb", "gb": "gb",
    "tb": "tb", "kib": "kib", "mib": "mib", "gib": "gib", "bit": "bit", "bits": "bit",
    "usd": "usd", "dollar": "usd", "dollars": "usd", "$": "usd", "eur": "eur", "euro": "eur",
    "euros": "eur", "€": "eur", "gbp": "gbp", "£": "gbp", "yen": "jpy", "jpy": "jpy",
    "¥": "jpy", "%": "percent", "percent": "percent", "mph": "mph", "kmh": "kmh",
    "kph": "kmh", "w": "watt", "watt": "watt", "watts": "watt", "kw": "kw", "kwh": "kwh",
    "v": "volt", "volt": "volt", "volts": "volt", "hz": "hz", "ghz": "ghz", "mhz": "mhz",
}  # fmt: skip

# Words whose swap does not change the question ("How do I" / "How can I").
FUNCTION_WORDS = _words(
    "a an the i you we they he she it me my your our their this that these those there "
    "do does did can could should would will shall may might must is are was were be been "
    "am to of for with at by about as from into onto how what which please pls some any "
    "one ones s"
)

# Question words that ask for different things; unlike EXCLUSIVE, one text
# without any ("What causes X?" / "Why does X happen?") is not a difference.
QUESTION_WORDS = _words("why when where who whom whose")

# Only words that are not also common English words: "a", "as", "die", "come",
# "is" would make English questions look Portuguese, German, Italian or Dutch.
STOPWORDS = {
    "en": _words("the is are what how do does and of to in for you can with this that it"),
    "de": _words("der das ist und nicht wie ich ein eine zu mit für auf dem wird"),
    "fr": _words("le la les est et pas comment que je un une des du pour avec dans sur qui"),
    "es": _words("el la los las es y como qué que un una del para con por en se"),
    "it": _words("il lo la gli è e non che un una di per con del della sono"),
    "pt": _words("o os é e não como que um uma da para com em por"),
    "nl": _words("de het en niet hoe wat een voor dat ik zijn"),
}

ALWAYS_CAPITALISED = frozenset({"i", "im", "ive", "id", "ill", "ok", "okay"})

SCRIPTS: tuple[tuple[str, int, int], ...] = (
    ("cyrillic", 0x0400, 0x04FF),
    ("greek", 0x0370, 0x03FF),
    ("arabic", 0x0600, 0x06FF),
    ("hebrew", 0x0590, 0x05FF),
    ("devanagari", 0x0900, 0x097F),
    ("thai", 0x0E00, 0x0E7F),
    ("hangul", 0xAC00, 0xD7AF),
    ("kana", 0x3040, 0x30FF),
    ("han", 0x4E00, 0x9FFF),
)
