"""Methods declare what they read and show (`MethodSpec`); the views build their menus from
those declarations, so a method registered tomorrow reaches every tab without view edits."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from xsent_core.methods.spec import MethodSpec
from xsent_core.registry import method_names, method_specs

ROOT = Path(__file__).resolve().parent.parent


def test_every_registered_method_declares_a_valid_spec():
    specs = method_specs()
    assert [s.name for s in specs] == list(method_names())
    by_name = {s.name: s for s in specs}
    assert {n for n, s in by_name.items() if s.task == "spans"} == {"tagger", "msmo"}
    assert {n for n, s in by_name.items() if s.reads_image} == {"m2sa", "lfdrt"}
    assert {n for n, s in by_name.items() if s.takes_translation} == {"ctam"}
    assert {n for n, s in by_name.items() if s.alignment_map} == {"vxlm", "ctam"}
    assert {n for n, s in by_name.items() if "distill" in s.jobs} == {"tagger", "msmo"}
    assert all(s.inspectable for s in specs)  # every method now draws at least one panel


@pytest.mark.parametrize("bad", [
    {"task": "pixels"}, {"inputs": frozenset({"image"})}, {"inputs": frozenset({"text", "audio"})},
    {"jobs": frozenset({"dance"})},
])
def test_bad_specs_are_refused(bad):
    with pytest.raises(ValueError):
        MethodSpec(**{"name": "x", "task": "sentence", **bad})


class FakeServices:
    """Just the spec lookups of `views.services.Services`, over a given table."""

    def __init__(self, specs):
        from views.services import Services

        self.extras = {"method_specs": {s.name: s for s in specs}}
        self.method_specs = Services.method_specs.__get__(self)
        self.methods_where = Services.methods_where.__get__(self)


def test_a_new_method_reaches_the_menus_by_its_spec_alone():
    from views.inspect import inspect_choices
    from views.predict import example_rows

    novel = MethodSpec("novel", "spans", frozenset({"text", "translation"}), shows="its own view", alignment_map=True)
    services = FakeServices([*method_specs(), novel])
    assert "novel" in services.methods_where(lambda s: s.task == "spans")
    names, default = inspect_choices(services)
    assert "novel" in names and default == "ctam"  # the first inspectable method taking a translation
    only_novel = FakeServices([novel])
    assert inspect_choices(only_novel) == (["novel"], "novel")
    assert [m for _, m in example_rows(only_novel)] == ["novel", "novel"]  # no sentence method: that example is dropped


def test_no_view_names_a_method():
    """Menus, inputs, notes and job kinds come from specs and the library (`xsent_core.jobs.job_kinds`):
    no view file names a method, neither as a literal nor in text a person reads."""
    name = re.compile(r"\b(tagger|classifier|msmo|m2sa|vxlm|ctam|lfd-?rt)\b", re.IGNORECASE)
    offenders = []
    for path in sorted((ROOT / "views").glob("*.py")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if name.search(line):
                offenders.append(f"{path.name}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_job_kinds_start_from_the_methods_that_declare_them():
    from xsent_core.jobs import job_kind, job_kinds
    from xsent_core.types import XsentError

    assert [k.name for k in job_kinds()] == ["distill", "rethink", "train_preset"]
    distill = job_kind("distill")
    assert distill.base_methods()[0] == distill.produces  # the produced method's own models first
    assert set(distill.base_methods()) == {s.name for s in method_specs() if "distill" in s.jobs}
    assert job_kind("rethink").base_methods() == ("lfdrt",)
    assert job_kind("train_preset").base_methods() == ()
    with pytest.raises(XsentError, match="unknown job kind"):
        job_kind("nosuch")
