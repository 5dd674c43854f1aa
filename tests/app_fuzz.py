"""Fuzz every API endpoint of a running app (tests/app_server.py AppServer) through gradio_client.

The endpoints and their inputs are read from the app itself (`client.config`): every
named endpoint is called, each input filled by its component type (text, number,
choice, checkbox, file, image, table), endpoints that collect event data get
hand-made event data, and a few endpoints get inputs of their own (import and batch
files, alignment pairs, training forms that must never start a real job). Inputs
come from one seeded generator: random Unicode with lone surrogates, Burmese and
Zawgyi, strings up to ~1 MB, control characters and NUL, wrong types, negative and
huge numbers, path-traversal strings, files with bad encodings, wrong extensions,
corrupt images and forged file references to server paths.

A case fails when the reply is an exception other than a clear message (Gradio's
empty `{"error": null}` included), the server dies, the reply takes over
`LIMIT_S`, the reply names a server path outside the app's own folders or carries
/etc/passwd, a reply of an endpoint without file outputs holds something
gradio_client would take for a file reference, or the server log shows a traceback
of anything but `gradio.Error` (Gradio prints those too; they are the clear messages).

`issue_cases()` are the hand-written cases of issue 19; `fuzz_app()` runs them and
then `cases` generated ones. Shared by tests/test_reliability_bench.py and
benchmarks/reliability.py.
"""
from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import queue
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from tests.app_server import AppServer

LIMIT_S = 60.0
GENERIC_ERROR = "has not enabled verbose error reporting"
ERROR_MARKS = ("✗", "❌")
NEW_SESSION_EVERY = 150  # cases per gradio_client session, so fresh-session paths are hit too
NO_EVENT = object()
MAX_FILE_BYTES = 8 * 2**20  # under the app's 20 MB upload limit, which gradio_client enforces before sending

# relative weights of endpoints in the generated cases; 2 for an endpoint not named here
WEIGHTS = {
    "/predict": 14, "/predict_submit": 3, "/check_zawgyi": 8, "/convert_zawgyi": 6, "/predict_batch": 6,
    "/inspect": 6, "/alignment": 4, "/alignment_upload": 3, "/annotate_open": 6, "/annotate_pick": 3,
    "/annotate_span_action": 8, "/annotate_add_span": 5, "/annotate_remove_span": 3, "/annotate_save": 5,
    "/annotate_accept": 3, "/annotate_revert": 3, "/annotate_import": 7, "/export_annotations": 2,
    "/annotate_suggest": 2, "/train_start": 4, "/models_pick": 2,
}
NO_INPUT_WEIGHT = 1

PATHS = [
    "/etc/passwd", "/etc/shadow", "/root", "/root/.ssh/id_rsa", "../../x", "../../../../etc/shadow", "/proc/self/environ",
    "..\\..\\windows\\win.ini", "~/.bashrc", "file:///etc/passwd", "/gradio_api/file=/etc/passwd", "C:\\Windows\\System32",
    "/dev/zero", "/tmp/gradio/0123456789abcdef/never-uploaded.png", "http://169.254.169.254/latest/meta-data/",
]
BURMESE = ["ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်", "ဝန်ဆောင်မှု ညံ့တယ်", "ဒီမိုကရေစီ", "နည်းပညာ ဈေးကွက်"]
ZAWGYI = ["ဒီဆိုင္က အရမ္းေကာင္းတယ္", "ပို႔တဲ့ပစၥည္းမွားေနတယ္၊Wi-Fi လႊင့္စက္မွာတာ Humidifier လာပို႔သြားတယ္၊", "ႀကိဳက္"]
PLAIN = ["The fish was fresh but the service was painfully slow.", "Le personnel était très sympathique.",
         "La comida estaba fría.", "Обслуживание ужасное, но еда вкусная.", "De bediening was traag."]
NASTY = [
    "", " ", "\x00", "\x00" * 50, "\n" * 40, "\t\r\n", "\u200b\u200c\u200d\ufeff", "\u202eevil\u202c", "e\u0301" * 30,
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "'; DROP TABLE documents; --", "{0}{1}%s%n%x",
    "=cmd|' /C calc'!A0", "${jndi:ldap://x/a}", "\\", "null", "NaN", "[]", '{"__type__": "update"}', "**bold** `code` [x](y)",
    "🙂" * 20, "👩🏽‍🚀" * 5, "\U0010ffff", "\x1b[31mred", "a" * 5000, "..", "...", "　", "\ud800", "a\udfffb", "\udc00\ud800",
]
POLARITY_VALUES = ["positive", "negative", "neutral", "POSITIVE", "", None, 1, "conflict", ["positive"]]
SPAN_ACTIONS = ["add", "remove", "none", "", None, 7, "ADD", "drop table"]


def passwd_marker() -> str | None:
    """The first line of this machine's /etc/passwd: a reply carrying it leaked the file."""
    try:
        return Path("/etc/passwd").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Upload:
    """A file the client uploads (`forged`: a file reference sent as is, naming a server path, never uploaded)."""

    path: str
    about: str
    forged: bool = False

    def payload(self) -> dict[str, Any]:
        from gradio_client import handle_file

        if self.forged:
            return {"path": self.path, "orig_name": Path(self.path).name or "x", "meta": {"_type": "gradio.FileData"}}
        return handle_file(self.path)


class Inputs:
    """Seeded generator of hostile inputs; files are written to `folder`."""

    def __init__(self, seed: int, folder: Path) -> None:
        self.rng = random.Random(seed)
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files = 0

    # ---- scalars
    def pick(self, items: list[Any]) -> Any:
        return items[self.rng.randrange(len(items))]

    def codepoints(self, n: int) -> str:
        ranges = [(0x20, 0x7E), (0x0, 0x1F), (0xA0, 0x2FFF), (0x1000, 0x109F), (0x3000, 0x9FFF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]
        out = []
        for _ in range(n):
            lo, hi = self.pick(ranges)
            c = self.rng.randint(lo, hi)
            out.append(chr(c if not 0xD800 <= c <= 0xDFFF else 0x41))
        return "".join(out)

    def with_surrogates(self, text: str) -> str:
        for _ in range(self.rng.randint(1, 3)):
            pos = self.rng.randint(0, len(text))
            text = text[:pos] + chr(self.rng.randint(0xD800, 0xDFFF)) + text[pos:]
        return text

    def huge(self) -> str:
        size = self.pick([50_000, 200_000, 1_000_000])
        base = self.pick(BURMESE + ZAWGYI + PLAIN) + " " + self.codepoints(20) + " "
        return (base * (size // len(base) + 1))[:size]

    def text(self) -> Any:
        kind = self.rng.random()
        if kind < 0.25:
            return self.codepoints(self.rng.randint(0, 300))
        if kind < 0.45:
            return " ".join(self.pick(BURMESE + ZAWGYI + PLAIN) for _ in range(self.rng.randint(1, 4)))
        if kind < 0.60:
            return self.pick(NASTY)
        if kind < 0.68:
            return self.with_surrogates(self.pick(PLAIN + BURMESE))
        if kind < 0.76:
            return self.pick(PATHS) + self.pick(["", " " + self.pick(PLAIN)])
        if kind < 0.80:
            return self.huge()
        if kind < 0.90:
            return self.pick(PLAIN) + self.codepoints(self.rng.randint(1, 20)) + self.pick(NASTY)
        return self.wrong_type()

    def wrong_type(self) -> Any:
        return self.pick([0, -1, 2**63, -(10**30), 1e308, -0.0, 0.5, True, False, None, [], ["a", 1], {"a": [None]},
                          {"path": "/etc/passwd"}, [[1, 2], [3]]])

    def number(self) -> Any:
        kind = self.rng.random()
        if kind < 0.45:
            return self.rng.randint(-3, 60)
        if kind < 0.65:
            return self.pick([2**31, 2**63, 2**64, 10**30, -(10**30), -(2**63) - 1])
        if kind < 0.80:
            return self.pick([0.5, -0.0, 1e308, -1e308, 1e-308, 3.000001, 7.999999999])
        return self.pick(["abc", "1", "", " 7 ", "1e3", "0x10", "٣", None, True, [], {"x": 1}, "\ud800"])

    def boolean(self) -> Any:
        return self.rng.random() < 0.5 if self.rng.random() < 0.85 else self.pick(["yes", 1, 0, None, "", [], "\x00"])

    def choice(self, choices: list[Any]) -> Any:
        if choices and self.rng.random() < 0.85:
            return self.pick(choices)
        if not choices and self.rng.random() < 0.8:  # choices filled in per session (model names): mostly left empty
            return None
        return self.pick([None, "", "../../etc/passwd", "tagger-default", "\ud800", 5, ["tagger"], self.codepoints(8),
                          (self.pick(choices) + " ") if choices else "x"])

    def json_value(self, depth: int = 0) -> Any:
        kind = self.rng.random()
        if depth > 2 or kind < 0.5:
            return self.pick([None, True, 0, -1, 10**30, 1.5, "", "x", "\ud800", "/etc/passwd", self.codepoints(5)])
        if kind < 0.75:
            return [self.json_value(depth + 1) for _ in range(self.rng.randint(0, 4))]
        return {self.pick(["index", "value", "action", "start", "end", "polarity", "path", "__type__", self.codepoints(3)]):
                self.json_value(depth + 1) for _ in range(self.rng.randint(0, 4))}

    # ---- event data
    def select_event(self) -> Any:
        if self.rng.random() < 0.25:
            return self.json_value()
        index = self.pick([[self.rng.randint(-2, 30), self.rng.randint(-1, 6)], self.rng.randint(-5, 30), [10**30, 0],
                           ["0", "1"], [], None, [0], "x", [0.5, 0]])
        event = {"index": index, "value": self.json_value(), "selected": self.boolean()}
        for key in ("row_value", "col_value"):
            if self.rng.random() < 0.5:
                event[key] = self.json_value()
        if self.rng.random() < 0.15:
            del event[self.pick(list(event))]
        return event

    def span_event(self) -> Any:
        if self.rng.random() < 0.25:
            return self.json_value()
        event = {"action": self.pick(SPAN_ACTIONS), "start": self.number(), "end": self.number(),
                 "polarity": self.pick(POLARITY_VALUES)}
        if self.rng.random() < 0.5 and isinstance(event["start"], int) and not isinstance(event["start"], bool):
            event["end"] = event["start"] + self.rng.randint(-2, 12)  # near-valid ranges reach the span checks
        return event

    # ---- files
    def new_file(self, data: bytes, name: str, about: str) -> Upload:
        data = data[:MAX_FILE_BYTES]
        self.files += 1
        folder = self.folder / f"f{self.files}"
        folder.mkdir()
        path = folder / name
        path.write_bytes(data)
        return Upload(str(path), f"{about} ({len(data)} bytes as {name!r}): {data[:120]!r}")

    def encode(self, text: str) -> tuple[bytes, str]:
        how = self.pick(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1", "surrogates", "junk"])
        if how == "surrogates":
            return self.with_surrogates(text).encode("utf-8", "surrogatepass"), "UTF-8 with encoded lone surrogates"
        if how == "junk":
            data = bytearray(text.encode("utf-8", "surrogatepass"))
            for _ in range(self.rng.randint(1, 4)):
                data.insert(self.rng.randint(0, len(data)), self.pick([0xFF, 0xC3, 0x00, 0xED, 0x80]))
            return bytes(data), "UTF-8 with invalid bytes"
        return text.encode(how, "replace" if how == "latin-1" else "surrogatepass"), how

    def cell(self) -> str:
        value = self.text()
        value = value if isinstance(value, str) else json.dumps(value)
        return value if self.rng.random() < 0.02 else value[:2000]  # a few huge cells, not a file of them

    def csv_text(self, rows: int) -> str:
        headers = self.pick([["text"], ["id", "text"], ["text", "image"], ["id", "text", "lang", "label"], ["TEXT"],
                             ["id"], [], ["text", "text"], [self.codepoints(4)]])
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.pick([",", ",", ",", ";", "\t"]))
        if headers:
            writer.writerow(headers)
        for _ in range(rows):
            writer.writerow([self.pick(PATHS) if h == "image" else self.cell() for h in headers or ["x"]])
        return out.getvalue()

    def row(self) -> Any:
        if self.rng.random() < 0.15:
            return self.json_value()
        row: dict[str, Any] = {"id": self.pick([str(self.rng.randint(0, 99)), None, 5, "", "../x"]), "text": self.cell() if self.rng.random() < 0.85 else self.wrong_type()}
        if self.rng.random() < 0.3:
            row["image"] = self.pick(PATHS + [None, 5, ""])
        if self.rng.random() < 0.3:
            row["label"] = self.pick(POLARITY_VALUES)
        if self.rng.random() < 0.3:
            row["spans"] = self.pick([[{"start": self.number(), "end": self.number(), "polarity": self.pick(POLARITY_VALUES)}],
                                      "x", [1], None, [{}]])
        if self.rng.random() < 0.2:
            row["lang"] = self.pick(["my", "en", "", None, "xx-YY", 3])
        return row

    def jsonl_text(self, rows: int) -> str:
        lines = []
        for _ in range(rows):
            r = self.rng.random()
            if r < 0.1:
                lines.append(self.pick(['{"text": "unclosed', "{", "]", "not json", "", "  ", "{} {}", "\x00"]))
            else:
                lines.append(json.dumps(self.row(), ensure_ascii=self.rng.random() < 0.5))
        return "\n".join(lines) + self.pick(["\n", "", "\r\n"])

    def conll_text(self, rows: int) -> str:
        tags = ["O", "B-POS", "I-POS", "E-POS", "S-NEG", "B-NEU", "E-NEG", "I-POS", "X", "", "T-POS", "S-CONFLICT"]
        sentences = []
        for _ in range(max(1, rows // 3)):
            words = [self.pick(["food", "service", "ဒီဆိုင်က", self.codepoints(3), "\x00", "a b"]) for _ in range(self.rng.randint(0, 8))]
            sentences.append("\n".join(f"{w}\t{self.pick(tags)}" + self.pick(["", "\tNIL", "\tx\ty"]) for w in words))
        return "\n\n".join(sentences)

    def labelstudio_text(self, rows: int) -> str:
        tasks = []
        for i in range(rows):
            task: Any = {"id": self.pick([i, None, "x", -1]), "data": self.pick([{"text": self.cell()}, {}, None, {"text": 5}])}
            if self.rng.random() < 0.7:
                task["annotations"] = [{"completed_by": self.pick([1, None, "x"]), "result": [
                    {"type": self.pick(["labels", "choices", "x"]), "value": {
                        "start": self.number(), "end": self.number(), "text": self.cell(),
                        "labels": [self.pick(["Positive", "Negative", "Good", "", None])],
                        "choices": [self.pick(["Positive", "Bad", 3])]}}]}]
            tasks.append(task if self.rng.random() > 0.1 else self.json_value())
        return json.dumps(tasks, ensure_ascii=False)

    def semeval_text(self, rows: int) -> str:
        parts = ["<?xml version='1.0' encoding='UTF-8'?>", "<Reviews><Review rid='1'><sentences>"]
        for i in range(rows):
            parts.append(f"<sentence id='{i}'><text>{self.pick(PLAIN + ['&bogus;', '<b>', ']]>'])}</text>"
                         f"<Opinions><Opinion target='{self.pick(['food', 'NULL', ''])}' polarity='{self.pick(['positive', 'x', ''])}' "
                         f"from='{self.number()}' to='{self.number()}'/></Opinions></sentence>")
        parts.append(self.pick(["</sentences></Review></Reviews>", "", "<unclosed>"]))
        return "\n".join(parts)

    def pairs_text(self) -> str:
        lines = []
        for _ in range(self.pick([0, 1, 2, 5, 14, 15, 30, 120])):
            sep = self.pick(["\t", ",", "|", " ", "\t\t", ""])
            left = self.pick(["democracy", "food", self.codepoints(6), "", '"quoted, word"'])
            right = self.pick(BURMESE + ZAWGYI + ["", self.codepoints(4), "x"])
            lines.append(f"{left}{sep}{right}" + self.pick(["", "\tthird", "\t"]))
        if self.rng.random() < 0.05:
            lines = [f"w{i}\tဒီ{i}" for i in range(2001)]  # over the 2000-pair limit
        return "\n".join(lines)

    def data_file(self, kinds: list[str], many: int = 2000) -> Upload:
        """A file of one of `kinds`, now and then with `many` rows."""
        kind = self.pick(kinds)
        rows = self.pick([0, 1, 3, 10, 40]) if self.rng.random() < 0.97 else many
        if kind == "bytes":
            data, how = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 3000))), "random bytes"
        elif kind == "png":
            data, how = self.image_bytes("png"), "binary"
        else:
            text = {"csv": self.csv_text, "jsonl": self.jsonl_text, "conll": self.conll_text, "labelstudio": self.labelstudio_text,
                    "semeval": self.semeval_text, "gklmip": lambda n: json.dumps([self.row() for _ in range(n)]),
                    "pairs": lambda n: self.pairs_text()}[kind](rows)
            data, how = self.encode(text)
        ext = self.pick({"csv": [".csv"], "jsonl": [".jsonl"], "conll": [".conll", ".txt"], "labelstudio": [".json"],
                         "semeval": [".txt", ".xml"], "gklmip": [".json"], "pairs": [".tsv", ".txt"], "bytes": [".csv", ".jsonl", ".bin"],
                         "png": [".png"]}[kind])
        if self.rng.random() < 0.1:
            ext = self.pick([".exe", "", ".csv.exe", ".JSONL", ".jpg", ".json"])
        name = self.pick(["data", "ünïcode-名前", "name with spaces", "..hidden", "a" * 120]) + ext
        return self.new_file(data, name, f"{kind}, {rows} rows, {how}")

    def image_bytes(self, fmt: str) -> bytes:
        from PIL import Image

        size = (self.rng.randint(1, 64), self.rng.randint(1, 64))
        mode = self.pick({"png": ["RGB", "L", "P", "RGBA", "1", "I;16"], "jpeg": ["RGB", "L", "CMYK"], "gif": ["P", "L", "RGB"]}[fmt])
        img = Image.new(mode, size)
        out = io.BytesIO()
        img.save(out, format=fmt.upper())
        return out.getvalue()

    def image_file(self) -> Upload:
        kind = self.pick(["png", "jpeg", "gif", "corrupt_jpeg", "truncated_png", "text_as_jpg", "empty", "random", "svg"]
                         + (["bomb"] if self.rng.random() < 0.1 else []))
        if kind in ("png", "jpeg", "gif"):
            data, name = self.image_bytes(kind), f"ok.{kind}"
        elif kind == "corrupt_jpeg":
            data, name = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(self.rng.randrange(256) for _ in range(200)), "broken.jpg"
        elif kind == "truncated_png":
            full = self.image_bytes("png")
            data, name = full[: len(full) // 2], "half.png"
        elif kind == "text_as_jpg":
            data, name = self.pick(PLAIN).encode(), "notes.jpg"
        elif kind == "empty":
            data, name = b"", "empty.png"
        elif kind == "svg":
            data, name = b"<svg xmlns='http://www.w3.org/2000/svg'><image href='file:///etc/passwd'/></svg>", "vector.png"
        elif kind == "bomb":
            data, name = bomb_png(), "huge.png"
        else:
            data, name = bytes(self.rng.randrange(256) for _ in range(500)), "noise.webp"
        return self.new_file(data, name, kind)

    def forged(self) -> Upload:
        path = self.pick(PATHS + ["", ".", "/", str(Path(__file__).resolve())])
        return Upload(path, f"forged file reference to {path!r}", forged=True)


@functools.cache
def bomb_png() -> bytes:
    """20000 x 20000 one-bit PNG: 400 megapixels in a few kB."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG")
    return out.getvalue()


# ------------------------------------------------------------------ cases


@dataclass
class Case:
    api: str
    args: list[Any]
    event_data: Any = NO_EVENT
    name: str | None = None  # the issue's named cases
    expect: Callable[["Outcome"], str | None] | None = None  # extra check: a problem, or None

    def uploads(self) -> list[Upload]:
        return [a for a in self.args if isinstance(a, Upload)]

    def describe(self) -> str:
        args = [a.about if isinstance(a, Upload) else a for a in self.args]
        event = "" if self.event_data is NO_EVENT else f" event_data={self.event_data!r}"[:300]
        return f"{self.api} {_short(repr(args), 500)}{event}"


@dataclass
class Outcome:
    value: Any = None
    error: str | None = None
    error_type: str | None = None
    seconds: float = 0.0
    log: str = ""


@dataclass
class Endpoint:
    api: str
    fn_index: int
    inputs: list[dict[str, Any]]  # config components, gr.State left out
    file_outputs: bool
    event_data: bool


def endpoints_of(client: Any) -> dict[str, Endpoint]:
    """Every named endpoint of the app, with its input components, from the app's own config."""
    config = client.config
    components = {c["id"]: c for c in config["components"]}
    found = {}
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    for index, dep in enumerate(config["dependencies"]):
        api = "/" + str(dep.get("api_name"))
        if api not in named:
            continue
        inputs = [components[i] for i in dep["inputs"] if components[i]["type"] != "state"]
        outputs = [components[i]["type"] for i in dep["outputs"]]
        found[api] = Endpoint(api, dep.get("id", index), inputs, "file" in outputs, bool(dep.get("collects_event_data")))
    return found


def choices_of(component: dict[str, Any]) -> list[Any]:
    return [c[1] if isinstance(c, (list, tuple)) else c for c in component["props"].get("choices") or []]


class CaseMaker:
    """Inputs for one call of an endpoint: by component type, with endpoint-specific overrides."""

    def __init__(self, inputs: Inputs, doc_ids: Callable[[], list[int]]) -> None:
        self.inputs = inputs
        self.doc_ids = doc_ids

    def value_for(self, component: dict[str, Any]) -> Any:
        g = self.inputs
        kind = component["type"]
        if kind == "textbox":
            return g.text()
        if kind == "number":
            ids = self.doc_ids()
            return g.pick(ids) if ids and g.rng.random() < 0.3 else g.number()
        if kind == "checkbox":
            return g.boolean()
        if kind in ("dropdown", "radio"):
            return g.choice(choices_of(component))
        if kind == "image":
            r = g.rng.random()
            return None if r < 0.75 else (g.forged() if r < 0.8 else g.image_file())
        if kind == "file":
            return g.forged() if g.rng.random() < 0.08 else g.data_file(["csv", "jsonl", "conll", "labelstudio", "semeval", "gklmip", "pairs", "bytes", "png"])
        if kind == "dataframe":
            return g.pick([{"headers": ["a"], "data": [[g.cell()]], "metadata": None}, {"headers": [], "data": []},
                           "garbage", None, {"data": g.json_value()}])
        return g.json_value()

    def make(self, ep: Endpoint) -> Case:
        g = self.inputs
        args = [self.value_for(c) for c in ep.inputs]
        special = getattr(self, "special_" + ep.api.strip("/"), None)
        if special is not None:
            special(ep, args)
        if ep.api == "/annotate_span_action":
            event = g.span_event()
        elif ep.event_data:
            event = g.select_event()
        else:
            event = g.json_value() if g.rng.random() < 0.03 else NO_EVENT  # browsers send event data with any event
        return Case(ep.api, args, event)

    # endpoint-specific inputs, what the endpoint reads in the shapes it gets them; inputs found by elem_id or type
    def special_predict_batch(self, ep: Endpoint, args: list[Any]) -> None:
        i = input_index(ep, kind="file")
        if i is not None and not (isinstance(args[i], Upload) and args[i].forged):  # each row is predicted: a few hundred at most
            args[i] = self.inputs.data_file(["csv", "jsonl", "jsonl", "bytes", "gklmip", "png"], many=200)

    def special_annotate_import(self, ep: Endpoint, args: list[Any]) -> None:
        g = self.inputs
        if (i := input_index(ep, kind="file")) is not None and g.rng.random() < 0.92:
            args[i] = g.data_file(["csv", "jsonl", "conll", "labelstudio", "semeval", "gklmip", "bytes"])
        if (i := input_index(ep, "annotate-labelstudio-map")) is not None and g.rng.random() < 0.5:
            args[i] = g.pick(["Good=positive, Bad=negative", "=", "a=b=c", "Good=", ",,,", "Good=positive,Good=negative", g.cell()])

    def special_alignment_upload(self, ep: Endpoint, args: list[Any]) -> None:
        if (i := input_index(ep, kind="file")) is not None and self.inputs.rng.random() < 0.92:
            args[i] = self.inputs.data_file(["pairs", "pairs", "bytes", "csv"])

    def special_alignment(self, ep: Endpoint, args: list[Any]) -> None:
        if (i := input_index(ep, "alignment-pairs")) is not None and self.inputs.rng.random() < 0.8:
            args[i] = self.inputs.pairs_text()

    def special_train_start(self, ep: Endpoint, args: list[Any]) -> None:
        # steps always out of range or not a number: the form is refused before a job is queued (no real training)
        steps = input_index(ep, "train-steps")
        if steps is None:
            raise RuntimeError("/train_start has no input with elem_id train-steps: the fuzz cannot keep it from training")
        args[steps] = self.inputs.pick(["0", "-1", "abc", "1e9", "99999999999999999999", "\ud800", "1.5", "NaN", "../../x", 0, -5, " 0 "])
        if (lr := input_index(ep, "train-lr")) is not None:
            args[lr] = self.inputs.pick(["", "0", "-1", "nan", "inf", "1e-5", "x", None, 5])

    def special_annotate_revert(self, ep: Endpoint, args: list[Any]) -> None:
        if (i := input_index(ep, "annotate-revert-version")) is not None and self.inputs.rng.random() < 0.5:
            args[i] = self.inputs.pick(["1", "v1", "V2", "0", "-1", "99999999999999999999999", "١", "²", "1.0", " 3 "])


def input_index(ep: Endpoint, elem_id: str | None = None, kind: str | None = None) -> int | None:
    """Position of the endpoint's input with this elem_id (or the first of this component type)."""
    for i, c in enumerate(ep.inputs):
        if (elem_id is not None and c["props"].get("elem_id") == elem_id) or (kind is not None and c["type"] == kind):
            return i
    return None


def schedule(endpoints: dict[str, Endpoint], cases: int, rng: random.Random) -> list[str]:
    """Every endpoint once, then the rest drawn by weight (endpoints with inputs weigh more)."""
    names = sorted(endpoints)
    order = list(names)
    rng.shuffle(order)
    weights = [WEIGHTS.get(n, 2 if endpoints[n].inputs or endpoints[n].event_data else NO_INPUT_WEIGHT) for n in names]
    order += rng.choices(names, weights=weights, k=max(0, cases - len(order)))
    return order[:cases] if cases < len(names) else order


# ------------------------------------------------------------------ checks


_ABS_PATH = re.compile(r"(?:^|(?<=[\s'\"`(\[=,:]))(/[\w.\-]+(?:/[\w.\-]*)*)", re.M)
_ANY_PATH = re.compile(r"/[\w.\-]+(?:/[\w.\-]*)*")
_LOG_EXCEPTION = re.compile(r"^(?!\s)([\w.]+(?:Error|Exception|Exit|Interrupt)\b.*)$", re.M)


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings_in(v)


def file_references(value: Any) -> Iterator[dict[str, Any]]:
    """Dicts that gradio_client takes for file references ({"path": str, ...}); not searched inside."""
    if isinstance(value, dict):
        if isinstance(value.get("path"), str):
            yield value
            return
        for v in value.values():
            yield from file_references(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from file_references(v)


def without_file_references(value: Any) -> Any:
    if isinstance(value, dict):
        return None if isinstance(value.get("path"), str) else {k: without_file_references(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_file_references(v) for v in value]
    return value


def crash_lines(log: str) -> list[str]:
    """Exception lines of tracebacks in the log, except gradio.Error (a message shown to the user)."""
    if "Traceback (most recent call last)" not in log:
        return []
    return [line for line in _LOG_EXCEPTION.findall(log) if not line.startswith("gradio.exceptions.Error:")]


class Judge:
    """What makes a case a failure; roots are the app's own folders (exports, uploads, models)."""

    def __init__(self, server: AppServer) -> None:
        self.roots = [str(p.resolve()) for p in (server.work_dir, server.models_dir, server.gradio_dir)]
        self.passwd = passwd_marker()
        self.sent_paths: set[str] = set()  # every path-like string sent so far: the store keeps texts, later replies show them

    def remember(self, echoes: list[str]) -> None:
        for text in echoes:
            self.sent_paths.update(_ANY_PATH.findall(text))

    def was_sent(self, path: str) -> bool:
        return any(path in p for p in self.sent_paths)

    def inside_roots(self, path: str) -> bool:
        return any(path == r or path.startswith(r + "/") for r in self.roots)

    def echoes(self, case: Case) -> list[str]:
        """What the case sent: text it may legitimately see again (typed text, uploaded file contents)."""
        sent = list(strings_in([a for a in case.args if not isinstance(a, Upload)]))
        sent += list(strings_in(case.event_data)) if case.event_data is not NO_EVENT else []
        for up in case.uploads():
            sent.append(Path(up.path).name)
            if not up.forged:
                data = Path(up.path).read_bytes()
                sent += [data.decode("utf-8", "replace"), data.decode("latin-1"), data.decode("utf-16", "replace")]
        return sent

    def leaks(self, case: Case, reply: Any, file_outputs: bool) -> list[str]:
        problems = []
        echoes = self.echoes(case)
        self.remember(echoes)
        refs = list(file_references(reply))
        if refs and not file_outputs:
            problems.append(f"reply holds what gradio_client takes for a file reference: {_short(repr(refs[0]), 200)}")
        for ref in refs:
            if file_outputs and not self.inside_roots(str(Path(ref["path"]).resolve())):
                problems.append(f"file reference outside the app's folders: {ref['path']}")
        for s in strings_in(without_file_references(reply)):
            if self.passwd and self.passwd in s and not any(self.passwd in e for e in echoes):
                problems.append("reply carries the contents of /etc/passwd")
            for path in _ABS_PATH.findall(s):
                top = "/" + path.strip("/").split("/")[0]
                if len(top) > 1 and Path(top).exists() and not self.inside_roots(path) and not self.was_sent(path):
                    problems.append(f"reply names the server path {path}")
        return problems

    def problems(self, case: Case, outcome: Outcome, endpoint: Endpoint | None) -> list[str]:
        found = []
        if outcome.seconds > LIMIT_S:
            found.append(f"reply took {outcome.seconds:.0f} s (limit {LIMIT_S:.0f} s)")
        if outcome.error_type is not None:
            message = (outcome.error or "").strip()
            if outcome.error_type not in ("AppError", "ValidationError") or not message or GENERIC_ERROR in message:
                found.append(f"unclear error {outcome.error_type}: {_short(message, 160)}")
        for line in crash_lines(outcome.log):
            found.append(f"traceback in the server log: {_short(line, 200)}")
        reply = [outcome.value, outcome.error]
        found += self.leaks(case, reply, endpoint.file_outputs if endpoint else False)
        for s in strings_in(outcome.value):
            if s.strip() in ERROR_MARKS:
                found.append("an error mark with no message")
        if case.expect is not None and (problem := case.expect(outcome)):
            found.append(problem)
        return list(dict.fromkeys(found))


def failure_kind(problems: list[str]) -> str:
    """A failure's cause for grouping: the server's exception when it logged one, else the first problem;
    paths and numbers blanked, so one bug with many inputs is one kind."""
    logged = [p for p in problems if p.startswith("traceback in the server log: ")]
    kind = logged[-1].removeprefix("traceback in the server log: ") if logged else problems[0]
    kind = re.sub(r"(?<![\w])/[^\s'\"]+", "<path>", kind)
    kind = re.sub(r"\\u[0-9a-fA-F]{4}", r"\\uXXXX", kind)  # which surrogate it was does not matter
    return re.sub(r"\d+", "N", kind)[:200]


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + "…"


# ------------------------------------------------------------------ calling


@contextlib.contextmanager
def browser_json() -> Iterator[None]:
    """Encode requests as a browser does: JSON.stringify escapes a lone surrogate (\\ud800);
    httpx refuses to encode one at all, so without this the client, not the app, would fail."""
    import httpx._content as content

    original = content.json_dumps
    content.json_dumps = lambda obj, **kw: json.dumps(obj, **{**kw, "ensure_ascii": True})
    try:
        yield
    finally:
        content.json_dumps = original


def send(client: Any, fn_index: int, case: Case) -> Any:
    """One call through gradio_client's endpoint machinery. The public `predict()` can neither send
    event data nor a file reference it has not uploaded; both are what a hostile client sends."""
    endpoint = client.endpoints[fn_index]
    data = endpoint.insert_empty_state(*[a.payload() if isinstance(a, Upload) else a for a in case.args])
    if not any(isinstance(a, Upload) and a.forged for a in case.args):  # forged references go out as they are
        data = endpoint.process_input_files(*data)
    kwargs = {} if case.event_data is NO_EVENT else {"event_data": case.event_data}
    return endpoint.process_predictions(*endpoint.make_predict(client.new_helper(fn_index))(*data, **kwargs))


@dataclass
class EndpointStats:
    cases: int = 0
    replied: int = 0
    refused: int = 0  # a clear error message instead of a reply
    failures: int = 0
    max_seconds: float = 0.0
    failure_kinds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, case: Case, outcome: Outcome, problems: list[str]) -> None:
        self.cases += 1
        self.max_seconds = max(self.max_seconds, round(outcome.seconds, 2))
        if problems:
            self.failures += 1
            kind = failure_kind(problems)
            entry = self.failure_kinds.setdefault(kind, {"count": 0, "first_input": case.describe(), "problems": problems,
                                                           "log_tail": _short(outcome.log.strip()[-600:], 600)})
            entry["count"] += 1
        elif outcome.error_type is None:
            self.replied += 1
        else:
            self.refused += 1

    def as_dict(self) -> dict[str, Any]:
        return {"cases": self.cases, "replied": self.replied, "refused_with_message": self.refused, "failures": self.failures,
                "max_seconds": self.max_seconds, "failure_kinds": [{"kind": k, **v} for k, v in self.failure_kinds.items()]}


class Fuzzer:
    def __init__(self, server: AppServer, seed: int, folder: Path) -> None:
        self.server = server
        self.inputs = Inputs(seed, folder)
        self.judge = Judge(server)
        self.client: Any = None
        self.endpoints: dict[str, Endpoint] = {}
        self.stats: dict[str, EndpointStats] = {}
        self.restarts = 0
        self.queued_jobs_cancelled = 0
        self.named: list[dict[str, Any]] = []
        self._doc_ids: list[int] = []
        self._doc_ids_age = 0

    def connect(self) -> Any:
        from gradio_client import Client

        if self.client is not None:
            self.client.close()
        self.client = Client(self.server.url, verbose=False, download_files=False, analytics_enabled=False)
        self.endpoints = endpoints_of(self.client)
        return self.client

    def doc_ids(self) -> list[int]:
        """Ids of stored documents (read again every 50 asks: imports and predictions add some)."""
        from db import Store

        if not self._doc_ids or self._doc_ids_age >= 50:
            with Store.open(self.server.db) as store:
                self._doc_ids = [d.id for d in store.list_documents()][:200]
            self._doc_ids_age = 0
        self._doc_ids_age += 1
        return self._doc_ids

    def call(self, case: Case) -> Outcome:
        offset = self.server.log_size()
        endpoint = self.endpoints.get(case.api)
        started = time.time()
        outcome = Outcome()
        done: queue.Queue = queue.Queue()

        def work() -> None:
            try:
                done.put((send(self.client, endpoint.fn_index if endpoint else -1, case), None))
            except Exception as e:
                done.put((None, e))

        # a daemon thread: a call stuck on a broken event stream must not block the next ones, or the exit
        threading.Thread(target=work, name="fuzz-call", daemon=True).start()
        try:
            outcome.value, error = done.get(timeout=LIMIT_S + 1)
        except queue.Empty:
            outcome.error_type, outcome.error = "Timeout", f"no reply within {LIMIT_S:.0f} s"
            self.connect()  # the stuck stream belongs to this session: carry on in a fresh one
        else:
            if error is not None:
                outcome.error_type, outcome.error = type(error).__name__, str(error)
        outcome.seconds = time.time() - started
        outcome.log = self.server.read_log(offset)
        return outcome

    def run(self, case: Case) -> list[str]:
        outcome = self.call(case)
        problems = self.judge.problems(case, outcome, self.endpoints.get(case.api))
        if not self.server.alive():
            problems.append("the server died")
            self.server.start()
            self.restarts += 1
            self.connect()
        if case.api == "/train_start" and any(isinstance(s, str) and "Queued job" in s for s in strings_in(outcome.value)):
            self.cancel_job()
            problems.append("a training job was queued (the fuzz form is always invalid)")
        self.stats.setdefault(case.api, EndpointStats()).add(case, outcome, problems)
        if case.name is not None:
            self.named.append({"case": case.name, "passed": not problems, "problems": problems})
        return problems

    def cancel_job(self) -> None:
        self.queued_jobs_cancelled += 1
        self.client.predict(None, api_name="/train_cancel")  # no job picked: the latest one


def fuzz_app(server: AppServer, cases: int, seed: int, folder: Path, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The issue's named cases, then `cases` generated ones, one at a time (so each server log line
    belongs to one case), on the running app. Returns per-endpoint counts and failures."""
    fuzzer = Fuzzer(server, seed, folder)
    started = time.time()
    with browser_json():
        fuzzer.connect()
        for case in issue_cases(fuzzer.inputs, server, fuzzer.doc_ids()):
            fuzzer.run(case)
        fuzzer.connect()
        maker = CaseMaker(fuzzer.inputs, fuzzer.doc_ids)
        plan = schedule(fuzzer.endpoints, cases, fuzzer.inputs.rng)
        for n, api in enumerate(plan, 1):
            if n % NEW_SESSION_EVERY == 0:
                fuzzer.connect()
            if api in fuzzer.endpoints:
                fuzzer.run(maker.make(fuzzer.endpoints[api]))
            if progress and n % 100 == 0:
                progress(f"[app-fuzz] {n}/{len(plan)} cases, {sum(s.failures for s in fuzzer.stats.values())} failures")
    fuzzer.client.close()
    per_endpoint = {api: s.as_dict() for api, s in sorted(fuzzer.stats.items())}
    return {
        "seed": seed,
        "endpoints": len(fuzzer.endpoints),
        "endpoints_fuzzed": sum(1 for a in fuzzer.endpoints if a in fuzzer.stats),
        "endpoints_not_fuzzed": sorted(set(fuzzer.endpoints) - set(fuzzer.stats)),
        "cases": sum(s.cases for s in fuzzer.stats.values()),
        "failures": sum(s.failures for s in fuzzer.stats.values()),
        "replied": sum(s.replied for s in fuzzer.stats.values()),
        "refused_with_message": sum(s.refused for s in fuzzer.stats.values()),
        "server_restarts_after_death": fuzzer.restarts,
        "training_jobs_queued_and_cancelled": fuzzer.queued_jobs_cancelled,
        "limit_s": LIMIT_S,
        "seconds": round(time.time() - started, 1),
        "issue_cases": fuzzer.named,
        "failure_kinds": failure_totals(per_endpoint),
        "per_endpoint": per_endpoint,
    }


def failure_totals(per_endpoint: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Failures per kind over all endpoints, most frequent first."""
    kinds: dict[str, dict[str, Any]] = {}
    for api, row in per_endpoint.items():
        for entry in row["failure_kinds"]:
            total = kinds.setdefault(entry["kind"], {"failures": 0, "endpoints": []})
            total["failures"] += entry["count"]
            total["endpoints"].append(api)
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]["failures"]))


# ------------------------------------------------------------------ issue 19's cases


def _message_in(outcome: Outcome, needle: str) -> bool:
    return any(needle in s for s in strings_in(outcome.value))


def expect_reply_with(needle: str) -> Callable[[Outcome], str | None]:
    def check(outcome: Outcome) -> str | None:
        if outcome.error_type is not None:
            return f"expected a reply mentioning {needle!r}, got {outcome.error_type}: {_short(outcome.error or '', 160)}"
        return None if _message_in(outcome, needle) else f"the reply does not mention {needle!r}"
    return check


def expect_message_naming(name: str) -> Callable[[Outcome], str | None]:
    def check(outcome: Outcome) -> str | None:
        text = outcome.error or ""
        if outcome.error_type != "AppError" or name not in text:
            return f"expected an error naming {name!r}, got {outcome.error_type}: {_short(text, 160)}"
        return "the error names a server folder" if "/tmp" in text or "gradio" in text else None
    return check


def expect_uniform_refusal(rows: int) -> Callable[[Outcome], str | None]:
    """Every image row of the batch gets the same refusal, the row without an image a prediction."""
    from views.annotation_logic import IMAGE_REFUSED

    def check(outcome: Outcome) -> str | None:
        if outcome.error_type is not None:
            return f"batch refused as a whole: {outcome.error_type}: {_short(outcome.error or '', 160)}"
        table = outcome.value[1] if isinstance(outcome.value, (list, tuple)) and len(outcome.value) > 1 else None
        data = table.get("data") if isinstance(table, dict) else None
        if not data or len(data) != rows + 1:
            return f"expected {rows + 1} result rows, got {_short(repr(table), 200)}"
        errors = [r[3] for r in data[:rows]]
        if set(errors) != {IMAGE_REFUSED}:
            return f"image rows were not all refused with the same message: {sorted(set(map(str, errors)))}"
        return None if not data[rows][3] else f"the row without an image failed: {data[rows][3]}"
    return check


def expect_clear_span_message(outcome: Outcome) -> str | None:
    if outcome.error_type is not None:
        return f"expected a message in the reply, got {outcome.error_type}: {_short(outcome.error or '', 160)}"
    message = outcome.value[-1] if isinstance(outcome.value, (list, tuple)) else None
    return None if isinstance(message, str) and message.startswith(ERROR_MARKS) else f"expected a ✗ message, got {message!r}"


def expect_no_file_reference(outcome: Outcome) -> str | None:
    if outcome.error_type is not None:
        return f"expected an explanation, got {outcome.error_type}: {_short(outcome.error or '', 160)}"
    refs = list(file_references(outcome.value))
    return f"a value looks like a Gradio file reference: {_short(repr(refs[0]), 160)}" if refs else None


def issue_cases(g: Inputs, server: AppServer, doc_ids: list[int]) -> list[Case]:
    """Issue 19's named cases: each has a check of its own besides the general ones."""
    from PIL import Image

    cases = [Case("/predict", ["The fish was fresh \ud800 but the service was slow.", None, "tagger", None],
                  name="lone surrogate to /predict: prediction shown, 'not saved' note", expect=expect_reply_with("not saved"))]
    for data, file_name in ((b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4, "broken.jpg"),
                            (b"this is a text file, not a picture", "notes.jpg"), (bomb_png(), "huge.png")):
        up = g.new_file(data, file_name, "issue case image")
        cases.append(Case("/predict", ["A cat on a sofa.", up, "m2sa", None], name=f"{file_name} as image to /predict (m2sa)",
                          expect=expect_message_naming(file_name)))
    doc = doc_ids[0] if doc_ids else 1
    cases.append(Case("/annotate_open", [doc], name="open a document for the span-action cases"))
    for event in ({"action": "add", "start": "x", "end": None, "polarity": [1]}, {"action": "add", "start": 0, "end": 10**9, "polarity": "positive"},
                  {"action": "add", "start": 3, "end": 1, "polarity": "positive"}, {"action": "add", "start": 0, "end": 2, "polarity": "great"},
                  {"action": "remove"}, {"action": "remove", "start": "x", "end": []}, {"action": "\ud800"}, [1, 2], "str", None, {}):
        cases.append(Case("/annotate_span_action", [], event, name=f"hand-crafted event data {event!r}", expect=expect_clear_span_message))
    # removing a range that is no span changes nothing; a reply (no message needed) is all it takes
    cases.append(Case("/annotate_span_action", [], {"action": "remove", "start": 10**30, "end": -1}, name="event data removing no span"))
    outside = server.tmp / "outside.png"
    Image.new("RGB", (8, 8), "red").save(outside)  # a real image on the server, outside the folders uploads may name
    never = server.gradio_dir / "0123456789abcdef" / "never-uploaded.png"
    images = ["/etc/passwd", "/root", "../../../../etc/shadow", str(never), str(outside), "file:///etc/passwd"]
    rows = [{"id": f"r{i}", "text": "A dog in the park.", "image": p} for i, p in enumerate(images)]
    rows.append({"id": "plain", "text": "A dog in the park."})
    batch = g.new_file("".join(json.dumps(r) + "\n" for r in rows).encode(), "images.jsonl", "issue case batch")
    cases.append(Case("/predict_batch", [batch, "m2sa", None], name="batch JSONL (m2sa) naming server paths as images",
                      expect=expect_uniform_refusal(len(images))))
    for text in ("Le service était LENT ! 🙂", "/etc/passwd ../../x ဒီဆိုင်က"):
        cases.append(Case("/inspect", [text, "lfdrt", None, ""], name=f"lfdrt via /inspect: {text!r}", expect=expect_no_file_reference))
    return cases
