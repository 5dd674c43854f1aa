"""Build assets/dictionaries/my-en-cldr.tsv: Burmese-English word pairs from Unicode CLDR.

CLDR's Burmese locale ("my") names territories, languages, months, weekdays and
units, translated and voted on by CLDR's contributors; Babel ships that data.
Kept: one English word (letters only) against one Burmese word (Myanmar script, no
space, no Latin letter); languages only with a two-letter ISO 639-1 code (the
widely used ones). The third column says where the pair came from.

    pip install babel && python tools/build_cldr_lexicon.py

Rerun it to refresh the file from a newer Babel; the header records the version.
"""
from __future__ import annotations

import argparse
import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGLISH_WORD = re.compile(r"[A-Za-z]+")
MYANMAR = re.compile(r"[\u1000-\u109f]")
UNITS = (
    "length-meter", "length-kilometer", "length-centimeter", "length-millimeter", "length-inch", "length-foot",
    "length-mile", "length-yard", "mass-kilogram", "mass-gram", "mass-pound", "mass-ounce", "mass-ton",
    "volume-liter", "volume-gallon", "volume-cup", "duration-second", "duration-minute", "duration-hour",
    "duration-day", "duration-week", "duration-month", "duration-year", "duration-century",
    "energy-calorie", "power-watt", "electric-volt", "electric-ampere", "digital-byte", "digital-bit",
)


def burmese_word(text: str) -> bool:
    return " " not in text and bool(MYANMAR.search(text)) and not re.search(r"[A-Za-z]", text)


def cldr_pairs() -> list[tuple[str, str, str]]:
    """(Burmese, English, category) from the installed Babel's CLDR data."""
    from babel import Locale
    from babel.units import format_unit

    my, en = Locale("my"), Locale("en")
    out: list[tuple[str, str, str]] = []

    def add(burmese: str | None, english: str | None, category: str) -> None:
        if not burmese or not english:
            return
        burmese = unicodedata.normalize("NFC", burmese.strip())
        english = english.strip().lower()
        if ENGLISH_WORD.fullmatch(english) and burmese_word(burmese):
            out.append((burmese, english, category))

    for code, name in en.territories.items():
        add(my.territories.get(code), name, "cldr-territory")
    for code, name in en.languages.items():
        if len(code) == 2:
            add(my.languages.get(code), name, "cldr-language")
    for i in range(1, 13):
        add(my.months["format"]["wide"][i], en.months["format"]["wide"][i], "cldr-month")
    for i in range(7):
        add(my.days["format"]["wide"][i], en.days["format"]["wide"][i], "cldr-weekday")
    for unit in UNITS:
        # the singular long form ("1 hour") without its number
        add(format_unit(1, unit, length="long", locale="my").replace("1", "").strip(),
            format_unit(1, unit, length="long", locale="en").replace("1", "").strip(), "cldr-unit")
    seen: set[tuple[str, str]] = set()
    unique = []
    for b, e, c in out:
        if (b, e) not in seen:
            seen.add((b, e))
            unique.append((b, e, c))
    return unique


def main() -> None:
    import babel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "assets" / "dictionaries" / "my-en-cldr.tsv"))
    args = ap.parse_args()
    pairs = cldr_pairs()
    header = [
        "# Burmese -> English word pairs from Unicode CLDR (the Burmese locale's names of territories,",
        f"# languages, months, weekdays and units), read through Babel {babel.__version__}; built by",
        "# tools/build_cldr_lexicon.py. Columns: Burmese<TAB>English<TAB>CLDR category.",
        "# Licence: Unicode License v3 (see assets/dictionaries/README.md).",
    ]
    Path(args.out).write_text("\n".join(header + ["\t".join(p) for p in pairs]) + "\n", encoding="utf-8")
    print(f"{len(pairs)} pairs -> {args.out}")


if __name__ == "__main__":
    main()
