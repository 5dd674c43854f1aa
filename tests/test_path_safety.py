"""Annotate-tab export and import paths stay inside their folders: `../`, absolute paths
and escaping symlinks are refused with a message that says so.

Gradio itself refuses API calls naming files a user did not upload; these tests
cover our own check behind it (`annotation_logic.confined` / `check_upload(roots=)`).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from views import annotation_logic as logic
from xsent_core.types import InputError


@pytest.fixture()
def folders(tmp_path):
    exports, uploads, outside = tmp_path / "work" / "exports", tmp_path / "work" / "uploads", tmp_path / "outside"
    for folder in (exports, uploads, outside):
        folder.mkdir(parents=True)
    (outside / "secret.jsonl").write_text('{"text": "not yours"}\n', encoding="utf-8")
    (uploads / "ok.jsonl").write_text('{"text": "fine"}\n', encoding="utf-8")
    return exports, uploads, outside


@pytest.mark.parametrize("path", ["../../etc/passwd", "../outside/secret.jsonl", "/etc/passwd", "a/../../x.jsonl"])
def test_confined_refuses_climbs_and_absolute_paths(folders, path):
    exports, _, _ = folders
    with pytest.raises(InputError, match=r"refused: export .* leads outside the exports folder"):
        logic.confined(path, exports, "export")


def test_confined_accepts_paths_inside(folders):
    exports, _, _ = folders
    assert logic.confined("a.jsonl", exports, "export") == exports.resolve() / "a.jsonl"
    assert logic.confined("sub/../a.jsonl", exports, "export") == exports.resolve() / "a.jsonl"
    assert logic.confined(exports / "b.conll", exports, "export") == exports.resolve() / "b.conll"


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "..", "a/../../b"])
def test_export_names_never_leave_the_exports_folder(folders, name):
    exports, _, _ = folders
    target = logic.export_target(exports, "jsonl", name)
    assert target.parent == exports.resolve()  # sanitised to one plain file name


def test_export_through_an_escaping_symlink_is_refused(folders):
    exports, _, outside = folders
    os.symlink(outside / "secret.jsonl", exports / "evil.jsonl")
    with pytest.raises(InputError, match="refused: export 'evil.jsonl' leads outside the exports folder"):
        logic.export_target(exports, "jsonl", "evil")
    os.symlink(outside, exports / "evil-dir")  # the hf format writes a folder
    with pytest.raises(InputError, match="leads outside"):
        logic.export_target(exports, "hf", "evil-dir")
    assert (outside / "secret.jsonl").read_text(encoding="utf-8") == '{"text": "not yours"}\n'


def test_symlinked_exports_folder_itself_is_allowed(folders, tmp_path):
    # an administrator may put the exports folder elsewhere with a link: its target is the folder
    exports, _, outside = folders
    link = tmp_path / "linked-exports"
    os.symlink(outside, link)
    assert logic.export_target(link, "jsonl", "x").parent == outside.resolve()


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "../outside/secret.jsonl"])
def test_import_outside_the_upload_folders_is_refused(folders, path):
    _, uploads, _ = folders
    with pytest.raises(InputError, match="refused: .* was not uploaded"):
        logic.check_upload(path, 1, roots=(uploads,))


def test_import_through_an_escaping_symlink_is_refused(folders):
    _, uploads, outside = folders
    os.symlink(outside / "secret.jsonl", uploads / "innocent.jsonl")
    with pytest.raises(InputError, match="refused: innocent.jsonl was not uploaded"):
        logic.check_upload(uploads / "innocent.jsonl", 1, roots=(uploads,))


def test_import_inside_an_upload_folder_is_accepted(folders, tmp_path):
    exports, uploads, _ = folders
    assert logic.check_upload(uploads / "ok.jsonl", 1, roots=(exports, uploads)) == (uploads / "ok.jsonl").resolve()
    assert logic.check_upload("ok.jsonl", 1, roots=(uploads,)).name == "ok.jsonl"  # relative to the folder
    # the size checks still apply inside
    (uploads / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        logic.check_upload(uploads / "empty.csv", 1, roots=(uploads,))


def test_annotate_view_confines_imports_to_gradio_uploads(tmp_path, monkeypatch):
    """The roots the Annotate tab passes: Gradio's upload cache (GRADIO_TEMP_DIR) and work/uploads."""
    from views.annotate import upload_roots
    from views.services import AppSettings

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))

    class FakeServices:  # upload_roots needs only uploads_dir()
        settings = AppSettings(work_dir=tmp_path / "work")

        def uploads_dir(self) -> Path:
            return (self.settings.work_dir / "uploads").resolve()

    roots = upload_roots(FakeServices())
    assert roots == (tmp_path / "gradio", (tmp_path / "work" / "uploads").resolve())
    with pytest.raises(InputError, match="was not uploaded"):
        logic.check_upload("/etc/passwd", 1, roots=roots)


def test_preset_placeholders_name_the_data_assets_and_shipped_models(tmp_path, monkeypatch):
    from xsent_core.paths import expand_placeholders, repo_root, shipped_models_dir

    monkeypatch.setenv("XSENT_DATA", str(tmp_path))
    spec = "jsonl:{data}/a.jsonl|words:{assets}/dictionaries/my-en.tsv|{models}/lfdrt"
    assert expand_placeholders(spec) == (
        f"jsonl:{tmp_path}/a.jsonl|words:{repo_root() / 'assets'}/dictionaries/my-en.tsv|{shipped_models_dir()}/lfdrt"
    )
    assert expand_placeholders("jsonl:plain.jsonl") == "jsonl:plain.jsonl"
