"""The language-family table (data in `families.json`) and language -> family routing.

LFD-RT keeps one disentangler per language family. Which family a language
belongs to is data, not code: `families.json` beside this module lists the K
families in a fixed order (the order is the index of each disentangler), the
languages of each, ISO 639-2/3 aliases and a few scripts that identify a
family when a row carries no language code.

Routing rules (see `FamilyTable.route`):
- a code in the table -> its family (aliases and region tags such as
  ``fr-CA``/``my_MM`` are reduced to the primary code first);
- the anchor language (English) -> its family, but LFD-RT reads anchor text
  without a disentangler (the paper's anchor path);
- no code -> the script decides when it is unambiguous (Myanmar script ->
  Burmese -> Sino-Tibetan); otherwise the documented default;
- an unknown code -> the documented default ("shared": no disentangler, the
  aligned features the anchor language reads) plus a warning.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from ...types import CheckpointError

FAMILIES_FILE = Path(__file__).with_name("families.json")
SHARED = "shared"  # pseudo-family: no disentangler
_CODE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class Route:
    """Where one row goes: family index (None = shared path) and why."""

    lang: str | None  # normalised language code (None when unknown/missing)
    family: str  # family id, or "shared"
    index: int | None  # disentangler index; None for the shared/anchor path
    source: str  # "lang" | "anchor" | "script" | "detected" (language identifier) | "default" | "unknown"
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"lang": self.lang, "family": self.family, "index": self.index, "source": self.source}


@dataclass(frozen=True)
class FamilyTable:
    families: tuple[str, ...]  # ids in disentangler order
    names: Mapping[str, str]  # id -> display name
    lang_to_family: Mapping[str, str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    scripts: tuple[tuple[int, int, str], ...] = ()  # (first, last code point, language)
    anchor_language: str = "en"
    default_family: str = SHARED

    @property
    def size(self) -> int:
        return len(self.families)

    def normalise(self, lang: str | None) -> str | None:
        """'FR-ca' -> 'fr', 'mya' -> 'my'; None/'' -> None. Unknown codes come back as given (lower case)."""
        if lang is None:
            return None
        code = re.split(r"[-_]", lang.strip().lower(), maxsplit=1)[0]
        if not code:
            return None
        return self.aliases.get(code, code)

    def knows(self, lang: str | None) -> bool:
        code = self.normalise(lang)
        return code is not None and code in self.lang_to_family

    def family_of(self, lang: str | None) -> str | None:
        code = self.normalise(lang)
        return self.lang_to_family.get(code) if code else None

    def index_of(self, family: str) -> int | None:
        return self.families.index(family) if family in self.families else None

    def script_language(self, text: str) -> str | None:
        """The language a text's script identifies, when most of its letters are in one such script."""
        if not self.scripts or not text:
            return None
        counts: dict[str, int] = {}
        letters = 0
        for ch in text:
            cp = ord(ch)
            if ch.isalpha():
                letters += 1
            for first, last, lang in self.scripts:
                if first <= cp <= last:
                    counts[lang] = counts.get(lang, 0) + 1
                    break
        if not counts:
            return None
        lang, n = max(counts.items(), key=lambda kv: kv[1])
        return lang if n >= 0.5 * max(letters, 1) else None

    def route(self, lang: str | None, text: str = "", *, anchor_path: bool = True) -> Route:
        """Family for a row (see module docstring for the rules)."""
        code = self.normalise(lang)
        if code is not None:
            fam = self.lang_to_family.get(code)
            if fam is None:
                return Route(
                    None, self.default_family, self.index_of(self.default_family), "unknown",
                    f"language code {lang!r} is not in the LFD-RT family table; used the default "
                    f"({self.default_family!r}: no family disentangler)",
                )
            if anchor_path and code == self.anchor_language:
                return Route(code, fam, None, "anchor")
            return Route(code, fam, self.index_of(fam), "lang")
        guessed = self.script_language(text)
        if guessed is not None and guessed in self.lang_to_family:
            fam = self.lang_to_family[guessed]
            return Route(guessed, fam, self.index_of(fam), "script")
        return Route(None, self.default_family, self.index_of(self.default_family), "default")


def _parse(data: Mapping[str, Any], where: str) -> FamilyTable:
    if data.get("format") != "xsent-language-families":
        raise CheckpointError(f"{where}: not an xsent language-family table")
    families, names, lang_to_family = [], {}, {}
    for entry in data.get("families", []):
        fid = entry["id"]
        if fid in names or fid == SHARED:
            raise CheckpointError(f"{where}: family id {fid!r} repeated or reserved")
        families.append(fid)
        names[fid] = entry.get("name", fid)
        for lang in entry.get("languages", []):
            if not _CODE.match(lang):
                raise CheckpointError(f"{where}: family {fid!r}: bad language code {lang!r}")
            if lang in lang_to_family:
                raise CheckpointError(
                    f"{where}: language {lang!r} listed under {lang_to_family[lang]!r} and {fid!r}"
                )
            lang_to_family[lang] = fid
    if not families:
        raise CheckpointError(f"{where}: no families")
    default = data.get("default_family", SHARED)
    if default != SHARED and default not in names:
        raise CheckpointError(f"{where}: default_family {default!r} is not a family id or 'shared'")
    scripts = tuple(
        (int(r["from"], 16), int(r["to"], 16), r["language"]) for r in data.get("scripts", {}).get("ranges", [])
    )
    return FamilyTable(
        families=tuple(families),
        names=names,
        lang_to_family=lang_to_family,
        aliases=dict(data.get("aliases", {})),
        scripts=scripts,
        anchor_language=data.get("anchor_language", "en"),
        default_family=default,
    )


@lru_cache(maxsize=8)
def _load(path: str) -> FamilyTable:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read the language-family table ({e})") from e
    return _parse(data, path)


def load_family_table(
    path: str | Path | None = None, overrides: Mapping[str, str] | None = None, anchor_language: str | None = None
) -> FamilyTable:
    """The packaged table (or `path`), with `overrides` {lang: family id} applied."""
    table = _load(str(path or FAMILIES_FILE))
    if not overrides and not anchor_language:
        return table
    mapping = dict(table.lang_to_family)
    for lang, fam in (overrides or {}).items():
        code = table.normalise(lang)
        if not code or not _CODE.match(code):
            raise CheckpointError(f"family_overrides: bad language code {lang!r}")
        if fam not in table.names:
            raise CheckpointError(
                f"family_overrides: {lang!r} -> {fam!r}, which is not one of the families {list(table.families)}"
            )
        mapping[code] = fam
    return FamilyTable(
        families=table.families,
        names=table.names,
        lang_to_family=mapping,
        aliases=table.aliases,
        scripts=table.scripts,
        anchor_language=table.normalise(anchor_language) if anchor_language else table.anchor_language,
        default_family=table.default_family,
    )
