"""App start-up rules and the pure rendering helpers of the Predict tab."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import app
from views.render import highlight_segments, summary_markdown
from xsent_core.types import AspectSpan, Prediction

ROOT = Path(__file__).resolve().parent.parent


def test_share_without_auth_refuses_to_start(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--share", "--db", str(tmp_path / "x.sqlite3")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "--share makes the app reachable from the internet, so it needs a login" in proc.stderr
    assert not (tmp_path / "x.sqlite3").exists()  # refused before touching anything


def test_public_host_without_auth_warns():
    args = app.parse_args(["--host", "0.0.0.0"])
    warnings = app.check_exposure(args, ())
    assert warnings and "without --auth" in warnings[0]


def test_loopback_and_authenticated_hosts_do_not_warn():
    assert app.check_exposure(app.parse_args([]), ()) == []
    assert app.check_exposure(app.parse_args(["--host", "::1"]), ()) == []
    assert app.check_exposure(app.parse_args(["--host", "0.0.0.0", "--share"]), (("a", "b"),)) == []


def test_ipv6_hosts_are_bracketed_for_urls():
    assert [app.url_host(h) for h in ("::", "::1", "[::1]", "fe80::1", "0.0.0.0", "localhost")] == [
        "[::]", "[::1]", "[::1]", "[fe80::1]", "0.0.0.0", "localhost"]
    assert app.is_loopback("[::1]") and not app.is_loopback("[::]")


def test_app_serves_on_an_ipv6_address(tmp_path):
    """`--host ::1` crashed at launch (the local URL was not bracketed); it must serve."""
    import urllib.request

    from tests.app_server import running_app

    try:
        with socket_bound("::1"):
            pass
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    with running_app(tmp_path, host="::1") as url:
        assert url.startswith("http://[::1]:")
        with urllib.request.urlopen(url + "config", timeout=10) as r:
            assert r.status == 200


def socket_bound(host: str):
    import socket

    s = socket.socket(socket.AF_INET6)
    s.bind((host, 0))
    return s


def test_auth_entries_and_file(tmp_path):
    f = tmp_path / "users.txt"
    f.write_text("# team\nbob:pw2\n", encoding="utf-8")
    users = app.read_users(app.parse_args(["--auth", "alice:pw1", "--auth-file", str(f)]))
    assert users == (("alice", "pw1"), ("bob", "pw2"))
    with pytest.raises(SystemExit, match="USER:PASS"):
        app.read_users(app.parse_args(["--auth", "nopassword"]))


def test_store_inside_the_served_folder_refuses_to_start(tmp_path):
    work = tmp_path / "W"
    for argv in (
        ["--db", str(work / "x.sqlite3"), "--work-dir", str(work)],
        ["--db", str(work / "deep" / "x.sqlite3"), "--work-dir", str(work)],
    ):
        with pytest.raises(SystemExit, match="lies inside --work-dir"):
            app.check_paths(app.parse_args(argv))
    for served in ("/", str(Path.home())):
        with pytest.raises(SystemExit, match="not / or a home directory"):
            app.check_paths(app.parse_args(["--db", str(tmp_path / "x.sqlite3"), "--work-dir", served]))
    app.check_paths(app.parse_args(["--db", str(tmp_path / "x.sqlite3"), "--work-dir", str(work)]))  # siblings are fine
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--db", str(work / "x.sqlite3"), "--work-dir", str(work)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0 and "lies inside --work-dir" in proc.stderr
    assert not (work / "x.sqlite3").exists()  # refused before the store was created


def test_unusable_store_is_one_line_at_start(tmp_path):
    bad = tmp_path / "bad.sqlite3"
    bad.write_text("not a database", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--db", str(bad), "--work-dir", str(tmp_path / "w")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "is not a usable xsent database" in proc.stderr.strip().splitlines()[-1]
    assert bad.read_text(encoding="utf-8") == "not a database"  # nothing changed


def test_credentials_from_file_and_environment_never_echoed(tmp_path, monkeypatch):
    monkeypatch.setenv("XSENT_AUTH", "carol:pw3")
    f = tmp_path / "users.txt"
    f.write_text("# team\nbob:pw2  \n", encoding="utf-8")
    users, notes = app.read_auth(app.parse_args(["--auth-file", str(f)]))
    assert users == (("carol", "pw3"), ("bob", "pw2  "))  # spaces are part of a password, and a note says so
    assert any("ends with spaces" in n and "users.txt line 2" in n for n in notes)
    assert not any("command line" in n for n in notes)
    _, notes = app.read_auth(app.parse_args(["--auth", "alice:pw1"]))
    assert any("`ps`" in n for n in notes)
    f.write_text("alice-secret-without-colon\n", encoding="utf-8")
    with pytest.raises(SystemExit) as err:
        app.read_auth(app.parse_args(["--auth-file", str(f)]))
    assert "users.txt line 1" in str(err.value) and "alice-secret" not in str(err.value)
    with pytest.raises(SystemExit, match="not found") as err:
        app.read_auth(app.parse_args(["--auth-file", str(tmp_path / "missing.txt")]))
    assert str(err.value).count("\n") == 0


def test_highlight_segments_cover_text_once():
    text = "The fish was great"
    spans = [AspectSpan(4, 8, "fish", "positive")]
    segs = highlight_segments(text, spans)
    assert segs == [("The ", None), ("fish", "positive"), (" was great", None)]
    assert "".join(s for s, _ in segs) == text


def test_highlight_ignores_overlaps_and_out_of_range():
    text = "abcdef"
    spans = [AspectSpan(0, 3, "abc", "negative"), AspectSpan(2, 4, "cd", "positive"), AspectSpan(5, 9, "f", "neutral")]
    segs = highlight_segments(text, spans)
    assert "".join(s for s, _ in segs) == text
    assert segs[0] == ("abc", "negative")


def test_summary_mentions_warnings_and_spans():
    pred = Prediction(spans=(AspectSpan(0, 4, "food", "positive", 0.9),), warnings=("text truncated",))
    md = summary_markdown("tagger", "tagger-default", pred)
    assert "`food` → positive (90%)" in md and "text truncated" in md


def test_summary_shows_the_methods_notes_without_reading_extras():
    """The view prints what the method wrote in `notes`; extras (for machines) are not read."""
    from db.codec import prediction_from_dict
    from xsent_core.methods.lfdrt.model import head_notes
    from xsent_core.methods.m2sa.model import modality_notes

    notes = head_notes(False, {"positive": 0.7, "negative": 0.3}, {"negative": 0.6, "positive": 0.4}, "sino_tibetan")
    assert notes == ("Heads agree: no (uncertain)", "Heads: head 1: positive (70%) · head 2: negative (60%)",
                     "Language family: sino_tibetan")
    assert modality_notes({"text": 0.75, "image": 0.25}) == ("Modality share: text 75%, image 25%",)
    assert modality_notes(None) == ()
    pred = Prediction(label="positive", probs={"positive": 0.7}, extras={"heads_agree": True}, notes=notes)
    md = summary_markdown("any", "m", pred)
    assert all(n in md for n in notes) and "yes" not in md
    assert prediction_from_dict(pred.to_dict()) == pred  # the store keeps the notes


def test_failed_logins_are_throttled_per_client():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from views.login_throttle import LoginThrottle

    async def login(request):
        form = await request.form()
        return JSONResponse({"ok": True}) if form.get("password") == "right" else JSONResponse({"detail": "Incorrect credentials."}, 400)

    now = [0.0]
    inner = Starlette(routes=[Route("/login", login, methods=["POST"])])
    throttle = LoginThrottle(inner, max_failures=3, window_s=60, clock=lambda: now[0])
    client = TestClient(throttle)
    assert [client.post("/login", data={"username": "a", "password": "wrong"}).status_code for _ in range(3)] == [400] * 3
    blocked = client.post("/login", data={"username": "a", "password": "right"})  # even the right one waits
    assert blocked.status_code == 429 and "try again in 60 s" in blocked.json()["detail"] and blocked.headers["retry-after"] == "60"
    other = TestClient(throttle, client=("10.0.0.9", 1))
    assert other.post("/login", data={"username": "a", "password": "right"}).status_code == 200  # another client is not held
    now[0] = 61.0
    assert client.post("/login", data={"username": "a", "password": "right"}).status_code == 200
    assert client.post("/login", data={"username": "a", "password": "wrong"}).status_code == 400  # success reset the count
    assert app.guards((), 0, 3600) == {} and len(app.guards((("a", "b"),), 0, 3600)["middleware"]) == 1
    assert len(app.guards((("a", "b"),), 200, 3600)["middleware"]) == 2


def quota_app(quota: int, now: list[float]):
    """A Starlette app with an /upload route behind UploadQuota; uploads over 5,000 bytes are refused by the route."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from views.upload_quota import UploadQuota

    async def upload(request):
        body = await request.body()
        if len(body) > 5_000:
            return PlainTextResponse("File size exceeds the maximum allowed size", 413)
        return JSONResponse([f"/tmp/gradio/{len(body)}"])

    inner = Starlette(routes=[Route("/gradio_api/upload", upload, methods=["POST"])],
                      middleware=[Middleware(UploadQuota, quota_bytes=quota, window_s=3600, clock=lambda: now[0])])
    inner.tokens, inner.cookie_id = {"tok-alice": "alice", "tok-bob": "bob"}, "abc"  # what Gradio's App holds
    return inner


def test_uploads_have_a_per_user_quota():
    from starlette.testclient import TestClient

    now = [0.0]
    inner = quota_app(10_000, now)
    alice = TestClient(inner, cookies={"access-token-abc": "tok-alice"})
    assert [alice.post("/gradio_api/upload", content=b"x" * 4_000).status_code for _ in range(2)] == [200, 200]
    over = alice.post("/gradio_api/upload", content=b"x" * 4_000)
    assert over.status_code == 413 and over.text.startswith("Upload quota reached: at most 0 MB per user every 60 min")
    # the same user from another address shares the quota; another user does not
    elsewhere = TestClient(inner, client=("10.0.0.7", 1), cookies={"access-token-abc": "tok-alice"})
    assert elsewhere.post("/gradio_api/upload", content=b"x" * 4_000).status_code == 413
    bob = TestClient(inner, cookies={"access-token-abc": "tok-bob"})
    assert bob.post("/gradio_api/upload", content=b"x" * 4_000).status_code == 200
    # an unknown token counts as its address; an upload the route refuses does not count
    assert "more than the upload quota" in bob.post("/gradio_api/upload", content=b"x" * 20_000).text
    stranger = TestClient(inner, client=("10.0.0.8", 1), cookies={"access-token-abc": "forged"})
    assert stranger.post("/gradio_api/upload", content=b"x" * 6_000).status_code == 413  # the route's refusal
    assert [stranger.post("/gradio_api/upload", content=b"x" * 4_500).status_code for _ in range(3)] == [200, 200, 413]
    # an upload that does not say its size is refused before any byte is read
    chunked = alice.post("/gradio_api/upload", content=iter([b"x" * 10]))
    assert chunked.status_code == 411
    now[0] = 3601.0  # an hour later the quota is free again
    assert alice.post("/gradio_api/upload", content=b"x" * 4_000).status_code == 200
    assert alice.get("/gradio_api/upload").status_code == 405  # other methods pass through untouched


def test_upload_quota_over_a_running_app(tmp_path):
    from gradio_client import Client, handle_file

    from tests.app_server import running_app

    files = []
    for i in range(3):
        f = tmp_path / f"rows{i}.jsonl"
        f.write_text('{"text": "the soup was cold"}\n' * 12_000, encoding="utf-8")  # ~400 kB each
        files.append(f)
    with running_app(tmp_path, "--upload-quota-mb", "1") as url:
        client = Client(url, verbose=False)
        for f in files[:2]:
            status = client.predict(handle_file(str(f)), "auto", False, "newest", False, api_name="/annotate_import")[0]
            assert "Imported 12000 documents" in status, status
        with pytest.raises(Exception, match="413"):
            client.predict(handle_file(str(files[2])), "auto", False, "newest", False, api_name="/annotate_import")
        import httpx  # what the browser gets: the reason

        with open(files[2], "rb") as f:
            answer = httpx.post(url + "gradio_api/upload", files={"files": ("rows2.jsonl", f)}, timeout=30)
        assert answer.status_code == 413 and answer.text.startswith("Upload quota reached: at most 1 MB per user every 60 min")
        with open(tmp_path / "big.jsonl", "wb") as f:
            f.write(b'{"text": "x"}\n' * 100_000)  # 1.3 MB: over the whole quota
        with open(tmp_path / "big.jsonl", "rb") as f:
            answer = httpx.post(url + "gradio_api/upload", files={"files": ("big.jsonl", f)}, timeout=30)
        assert answer.status_code == 413 and "more than the upload quota (1 MB per user every 60 min)" in answer.text


def test_uploads_leave_the_temporary_folder_after_an_hour(tmp_path):
    from views.layout import build_app
    from views.services import AppSettings, Services

    services = Services.create(AppSettings(db_path=tmp_path / "s.sqlite3", models_dir=tmp_path / "m", work_dir=tmp_path / "w",
                                           shipped_dir=ROOT / "assets" / "models"))
    try:
        assert build_app(services).delete_cache == (600, 3600)
    finally:
        if services.jobs is not None:
            services.jobs.stop()


def test_tests_keep_their_caches_out_of_the_users_home():
    from xsent_core.paths import xsent_home

    home = xsent_home().resolve()
    assert home.name.startswith("xsent-test-home-") and Path.home().resolve() not in home.parents
