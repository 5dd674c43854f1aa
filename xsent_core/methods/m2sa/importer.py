"""Import the M2SA release (tweet ids and labels only) with the user's tweets.

The authors' `final_dataset.zip` (github.com/cleopatra-itn/M2SA-multimodal-
multilingual-sentiment-analysis) holds files named `N.SOURCE@NAME.json`, one
JSON object per line: `{"tweetid", "ds_language", "language", "label"}`.
Translated training sets are named `LANG_mt.N.SOURCE@NAME.json`. Tweets and
images are not redistributable: the user supplies

- `texts`: a JSONL/JSON/CSV/TSV file with a tweet id column (`tweetid`,
  `tweet_id`, `TweetID`, `id`, `id_str`) and a text column (`text`,
  `normalized_text`, `full_text`, `caption`, `tweet`), optionally an image
  column (`image`, `images`, `image_paths`, `file_names`, `media`: a path,
  a list, or comma-separated names; relative to `images` if given, else to
  the texts file);
- `images` (optional): a folder; a tweet without an image column gets
  `<tweetid>.<ext>`, `<tweetid>_*.<ext>` or the first image in `<tweetid>/`.

Output (`out_dir`): `train.jsonl`, `dev.jsonl`, `test.jsonl` in the xsent
JSONL format (image paths relative to the file), `unresolved.jsonl` (every
release row that was not imported, with the reason) and `import_report.json`.
Splits follow the file names (`test`, `dev`/`valid`/`development`, else
train); a language with no test file gets a stratified 90/5/5 split of its
training rows, one with no dev file 10 % of its training rows (as the
paper's scripts do), seeded so reruns give the same split.

Run: `python -m xsent_core.methods.m2sa.importer --release final_dataset.zip
--texts tweets.jsonl --images imgs/ --out ~/.cache/xsent/m2sa`.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from ...types import SENTIMENT_LABELS, InputError, XsentError

ID_COLUMNS = ("tweetid", "tweet_id", "tweetID", "TweetID", "id_str", "id")
TEXT_COLUMNS = ("text", "normalized_text", "full_text", "caption", "tweet")
IMAGE_COLUMNS = ("image", "images", "image_paths", "file_names", "media")
LANG_COLUMNS = ("language", "lang", "ds_language")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
_MT = re.compile(r"^([a-z]{2,3})_mt\.")
_TEST = re.compile(r"test", re.I)
_DEV = re.compile(r"dev|valid", re.I)
SPLITS = ("train", "dev", "test")


@dataclass
class ImportReport:
    out_dir: str
    written: dict[str, int] = field(default_factory=dict)  # split -> rows
    with_image: dict[str, int] = field(default_factory=dict)
    languages: dict[str, dict[str, int]] = field(default_factory=dict)  # lang -> split -> rows
    release_rows: int = 0
    unresolved: list[dict[str, Any]] = field(default_factory=list)
    bad_images: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        reasons = Counter(u["reason"].split(":")[0] for u in self.unresolved)
        return {
            "out_dir": self.out_dir,
            "release_rows": self.release_rows,
            "written": self.written,
            "with_image": self.with_image,
            "languages": self.languages,
            "unresolved": len(self.unresolved),
            "unresolved_reasons": dict(reasons),
            "bad_images": self.bad_images,
            "files": self.files,
        }


# -- reading the release ----------------------------------------------------------
def _release_files(release: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every .json/.jsonl file in a folder, a zip or one file."""
    if release.is_dir():
        for p in sorted(release.rglob("*")):
            if p.is_file() and p.suffix.lower() in (".json", ".jsonl") and not p.name.startswith("."):
                yield str(p.relative_to(release)), p.read_bytes()
    elif release.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(release) as zf:
                for info in sorted(zf.infolist(), key=lambda i: i.filename):
                    name = info.filename
                    base = name.rsplit("/", 1)[-1]
                    if info.is_dir() or base.startswith(".") or "__MACOSX" in name:
                        continue
                    if base.lower().endswith((".json", ".jsonl")):
                        yield name, zf.read(info)
        except zipfile.BadZipFile as e:
            raise InputError(f"{release}: not a readable zip file ({e})") from None
    elif release.is_file():
        yield release.name, release.read_bytes()
    else:
        raise InputError(f"{release}: not found (give the release folder, its zip, or one of its files)")


def _json_rows(name: str, data: bytes) -> Iterator[tuple[int, Any]]:
    """(line, object) from JSON lines or one JSON array; (line, None) for a bad line."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{name}: invalid JSON at line {e.lineno}: {e.msg}") from None
        for i, row in enumerate(rows, start=1):
            yield i, row
        return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError:
            yield lineno, None


def _first(row: dict[str, Any], names: Sequence[str]) -> Any:
    lowered = {str(k).lower(): v for k, v in row.items()}
    for n in names:
        if n in row and row[n] not in (None, ""):
            return row[n]
        if n.lower() in lowered and lowered[n.lower()] not in (None, ""):
            return lowered[n.lower()]
    return None


def _tweet_id(value: Any) -> str | None:
    """Ids as decimal strings; floats (ids rounded by a spreadsheet) are refused."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    return None


def _split_of(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    if _TEST.search(base):
        return "test"
    if _DEV.search(base):
        return "dev"
    return "train"


# -- reading the user's texts -------------------------------------------------------
@dataclass(frozen=True)
class _Tweet:
    text: str
    images: tuple[str, ...]
    base: Path  # folder the image names are relative to


def _image_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(s.strip() for s in str(value).split(",") if s.strip())


def read_texts(path: Path, images_dir: Path | None = None) -> dict[str, _Tweet]:
    """tweet id -> text and listed images, from the user's JSONL/JSON/CSV/TSV file."""
    if not path.is_file():
        raise InputError(f"{path}: texts file not found")
    base = images_dir if images_dir is not None else path.resolve().parent
    data = path.read_bytes()
    rows: list[tuple[int, Any]]
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        text = data.decode("utf-8-sig", errors="replace")
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        rows = [(i + 2, r) for i, r in enumerate(reader)]
    else:
        rows = list(_json_rows(str(path), data))
    out: dict[str, _Tweet] = {}
    for lineno, row in rows:
        if not isinstance(row, dict):
            continue
        tid = _tweet_id(_first(row, ID_COLUMNS))
        text = _first(row, TEXT_COLUMNS)
        if tid is None or not isinstance(text, str):
            continue
        out.setdefault(tid, _Tweet(text, _image_list(_first(row, IMAGE_COLUMNS)), base))
    if rows and not out:
        raise InputError(
            f"{path}: no row has both a tweet id ({', '.join(ID_COLUMNS)}) and a text ({', '.join(TEXT_COLUMNS)})"
        )
    return out


def _find_image(tid: str, tweet: _Tweet | None, images_dir: Path | None) -> tuple[Path | None, str | None]:
    """(image path, problem) for one tweet; (None, None) when it has no image."""
    if tweet is not None and tweet.images:
        p = Path(tweet.images[0]).expanduser()
        p = p if p.is_absolute() else tweet.base / p
        return (p, None) if p.is_file() else (None, f"listed image not found: {p}")
    if images_dir is None:
        return None, None
    for suffix in IMAGE_SUFFIXES:
        for cand in (images_dir / f"{tid}{suffix}", images_dir / f"{tid}{suffix.upper()}"):
            if cand.is_file():
                return cand, None
    matches = sorted(p for p in images_dir.glob(f"{tid}_*") if p.suffix.lower() in IMAGE_SUFFIXES)
    folder = images_dir / tid
    if not matches and folder.is_dir():
        matches = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return (matches[0], None) if matches else (None, None)


# -- the import ---------------------------------------------------------------------
def import_m2sa(
    release: str | os.PathLike[str],
    texts: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    languages: Sequence[str] | None = None,
    with_translations: bool = False,
    require_image: bool = False,
    validate_images: bool = True,
    seed: int = 0,
) -> ImportReport:
    """Join the release with the user's tweets and images; write JSONL splits and a report."""
    from ...data.jsonl import write_jsonl
    from ...data.splits import stratified_split
    from .features import check_image

    release_path, out = Path(release).expanduser(), Path(out_dir).expanduser()
    images_dir = Path(images).expanduser() if images is not None else None
    if images_dir is not None and not images_dir.is_dir():
        raise InputError(f"{images_dir}: images folder not found")
    tweets = read_texts(Path(texts).expanduser(), images_dir)
    report = ImportReport(out_dir=str(out))
    wanted = {lang.lower() for lang in languages} if languages else None
    seen: dict[str, str] = {}
    rows_by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)  # (lang, split) -> rows

    def unresolved(where: str, tid: Any, reason: str, row: Any = None) -> None:
        report.unresolved.append({"where": where, "tweetid": tid, "reason": reason, "row": row})

    for name, data in _release_files(release_path):
        base = name.rsplit("/", 1)[-1]
        translated = bool(_MT.match(base))
        if translated and not with_translations:
            continue
        report.files.append(name)
        split = "train" if translated else _split_of(name)
        for lineno, row in _json_rows(name, data):
            report.release_rows += 1
            where = f"{name}: line {lineno}"
            if not isinstance(row, dict):
                unresolved(where, None, "not a JSON object")
                continue
            tid = _tweet_id(_first(row, ID_COLUMNS))
            if tid is None:
                unresolved(where, None, "missing or malformed tweet id", row)
                continue
            lang = str(_first(row, LANG_COLUMNS) or "").strip().lower() or None
            if wanted is not None and lang not in wanted:
                continue
            label = str(row.get("label", "")).strip().lower()
            if label not in SENTIMENT_LABELS:
                unresolved(where, tid, f"label {row.get('label')!r} is not one of {', '.join(SENTIMENT_LABELS)}", row)
                continue
            if tid in seen:
                unresolved(where, tid, f"duplicate tweet id: first seen at {seen[tid]}", row)
                continue
            seen[tid] = where
            tweet = tweets.get(tid)
            if tweet is None:
                unresolved(where, tid, "no text supplied for this tweet id", row)
                continue
            img, problem = _find_image(tid, tweet, images_dir)
            if img is not None and validate_images:
                problem = check_image(str(img))
                img = None if problem else img
            if problem:
                report.bad_images.append({"tweetid": tid, "where": where, "error": problem})
            if img is None and not tweet.text.strip():
                unresolved(where, tid, "empty text and no usable image", row)
                continue
            if img is None and require_image:
                unresolved(where, tid, f"no usable image{': ' + problem if problem else ''}", row)
                continue
            rows_by[(lang or "und", split)].append(
                {
                    "id": tid,
                    "text": tweet.text,
                    "label": label,
                    "lang": lang,
                    "image": str(img.resolve()) if img is not None else None,
                    "source": base,
                    "translated": translated,
                }
            )

    from types import SimpleNamespace

    final: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for lang in sorted({lang for lang, _ in rows_by}):
        train = rows_by.get((lang, "train"), [])
        dev = rows_by.get((lang, "dev"), [])
        test = rows_by.get((lang, "test"), [])
        wrapped = [SimpleNamespace(label=r["label"], row=r) for r in train if not r["translated"]]
        extra = [r for r in train if r["translated"]]
        if not test and wrapped:
            test_part, wrapped = stratified_split(wrapped, 0.05, seed)
            test = [w.row for w in test_part]
            if not dev:
                dev_part, wrapped = stratified_split(wrapped, 0.05 / 0.95, seed)
                dev = [w.row for w in dev_part]
        elif not dev and wrapped:
            dev_part, wrapped = stratified_split(wrapped, 0.1, seed)
            dev = [w.row for w in dev_part]
        train = [w.row for w in wrapped] + extra  # translations only ever train
        for split, part in zip(SPLITS, (train, dev, test)):
            final[split].extend(part)
            report.languages.setdefault(lang, {})[split] = len(part)

    out.mkdir(parents=True, exist_ok=True)
    for split, part in final.items():
        target = out / f"{split}.jsonl"

        def rows_out(part: list[dict[str, Any]] = part, target: Path = target) -> Iterator[dict[str, Any]]:
            for r in part:
                d = {k: v for k, v in r.items() if v is not None and k != "translated"}
                if r["translated"]:
                    d["translated"] = True
                if r["image"] is not None:
                    d["image"] = os.path.relpath(r["image"], target.parent)
                yield d

        report.written[split] = write_jsonl(target, rows_out())
        report.with_image[split] = sum(1 for r in part if r["image"] is not None)
    write_jsonl(out / "unresolved.jsonl", ({k: v for k, v in u.items() if v is not None} for u in report.unresolved))
    (out / "import_report.json").write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xsent_core.methods.m2sa.importer", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--release", required=True, help="final_dataset folder, its zip, or one release file")
    parser.add_argument("--texts", required=True, help="JSONL/JSON/CSV/TSV with tweet id and text (and images)")
    parser.add_argument("--images", help="folder of images named by tweet id")
    parser.add_argument("--out", default=None, help="output folder (default: $XSENT_M2SA_DATA or ~/.cache/xsent/m2sa)")
    parser.add_argument("--languages", help="comma-separated language codes to keep (default: all)")
    parser.add_argument("--with-translations", action="store_true", help="also import the LANG_mt.* files (train only)")
    parser.add_argument("--require-image", action="store_true", help="treat tweets without a usable image as unresolved")
    parser.add_argument("--no-validate-images", action="store_true", help="skip decoding every image once")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.out is None:
        from .train import m2sa_data_dir

        args.out = str(m2sa_data_dir())
    try:
        report = import_m2sa(
            args.release,
            args.texts,
            args.out,
            images=args.images,
            languages=args.languages.split(",") if args.languages else None,
            with_translations=args.with_translations,
            require_image=args.require_image,
            validate_images=not args.no_validate_images,
            seed=args.seed,
        )
    except XsentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = report.to_dict()
    summary.pop("bad_images")
    summary["bad_images"] = len(report.bad_images)
    json.dump(summary, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    if report.unresolved:
        print(
            f"{len(report.unresolved)} release rows were not imported; see {Path(args.out) / 'unresolved.jsonl'}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
