"""Build the Blocks app in-process (no server): every event is named, shipped models registered."""
from __future__ import annotations

from pathlib import Path

import pytest

from views.layout import build_app
from views.services import AppSettings, Services
from xsent_core.types import XsentError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def services(tmp_path):
    settings = AppSettings(
        db_path=tmp_path / "s.sqlite3",
        models_dir=tmp_path / "models",
        work_dir=tmp_path / "work",
        shipped_dir=ROOT / "assets" / "models",
    )
    services = Services.create(settings)
    yield services
    if services.jobs is not None:
        services.jobs.stop()


def test_every_event_has_an_api_name(services):
    demo = build_app(services)
    fns = list(demo.fns.values()) if isinstance(demo.fns, dict) else list(demo.fns)
    assert fns, "the app defines no events"
    unnamed = [getattr(f, "name", None) or str(f.fn) for f in fns if f.api_name in (None, False, "")]
    # gr.Examples registers its own internal helper event; everything we wire must be named
    unnamed = [u for u in unnamed if "load_input_event" not in u and "Examples" not in u]
    assert not unnamed, unnamed


def test_shipped_models_are_registered_as_defaults(services):
    shipped = [p.name for p in (ROOT / "assets" / "models").iterdir() if (p / "config.json").is_file()]
    assert "tagger" in shipped and "classifier" in shipped
    for method in shipped:
        record = services.store.default_model(method)
        assert record is not None and record.shipped


def test_unknown_model_name_gives_clear_message(services):
    with pytest.raises(XsentError, match="no trained 'tagger' model is available"):
        services.models.resolve("tagger", "no-such-model")


def test_unknown_method_gives_clear_message(services):
    with pytest.raises(XsentError, match="unknown method 'nope'"):
        services.models.get("nope")
