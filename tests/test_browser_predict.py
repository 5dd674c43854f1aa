"""Use the app as a person would: headless Chromium types a sentence and clicks Predict.

Also calls the same endpoint through gradio_client. The screenshot goes to a
temporary folder, or to $XSENT_SCREENSHOTS (benchmarks/results/screenshots/ refreshes the README's).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.app_server import CHROMIUM, CHROMIUM_ARGS, running_app

SENTENCE = "The fish was fresh but the service was painfully slow."
OTHER = "The wine list was short and overpriced."

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`.ci/run` does)")
    tmp = tmp_path_factory.mktemp("app")
    with running_app(tmp) as url:
        yield url


def test_predict_in_browser_highlights_spans(app_url, shots):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.locator("#predict-text textarea").fill(SENTENCE)
        page.locator("#predict-button").click()
        summary = page.locator("#predict-summary")
        summary.get_by_text("tagger-default").wait_for(timeout=120_000)
        spans = page.locator("#predict-spans")
        # at least one aspect term is highlighted with a polarity label
        highlighted = spans.locator(".textspan.hl, span.hl, [class*='hl']")
        assert highlighted.count() > 0, spans.inner_html()[:2000]
        assert any(w in spans.inner_text() for w in ("fish", "service"))
        page.screenshot(path=str(shots / "predict.png"), full_page=True)
        # another sentence, then the first again: the repeat is one document in the Annotate queue, not two
        page.locator("#predict-text textarea").fill(OTHER)
        page.locator("#predict-button").click()
        expect(spans).to_contain_text("wine list", timeout=60_000)
        page.locator("#predict-text textarea").fill(SENTENCE)
        page.locator("#predict-button").click()
        expect(spans).to_contain_text("painfully", timeout=60_000)
        page.get_by_role("tab", name="Annotate").click()
        page.locator("#annotate-refresh").click()
        queue = page.locator("#annotate-queue")
        expect(queue).to_contain_text(OTHER, timeout=30_000)
        assert queue.inner_text().count(SENTENCE) == 1, queue.inner_text()
        page.get_by_role("tab", name="Predict").click()
        # another method: the tagger's output goes, it would read as the classifier's
        page.locator("#predict-method input").click()
        page.get_by_role("option", name="classifier").click()
        expect(summary).to_have_text("", timeout=30_000)
        assert "fish" not in spans.inner_text()
        # the footer lists the API, as the README says
        expect(page.locator("footer").get_by_text("Use via API")).to_be_visible()
        browser.close()


def test_gradio_client_calls_predict(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    highlights, label, summary, details = client.predict(SENTENCE, None, "tagger", None, api_name="/predict")
    assert "tagger-default" in summary
    texts = [s["text"] for s in details["spans"]]
    assert any(t in ("fish", "service") for t in texts), details
    for span in details["spans"]:
        assert SENTENCE[span["start"] : span["end"]] == span["text"]


def test_gradio_client_empty_text_gets_clear_message(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    _, _, summary, _ = client.predict("   ", None, "tagger", None, api_name="/predict")
    assert "Type a sentence" in summary


def test_shortcut_keys_type_into_the_annotator_name_and_the_save_names_who(app_url):
    """Without a login the name is typed: 's' in the name field is a letter, not Save; the save then says who."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.locator("#predict-text textarea").fill("The soup was cold.")
        page.locator("#predict-button").click()
        expect(page.locator("#predict-summary")).to_contain_text("tagger-default", timeout=120_000)
        page.get_by_role("tab", name="Annotate").click()
        page.locator("#annotate-doc .ann-text").wait_for(timeout=30_000)
        name = page.locator("#annotate-name textarea, #annotate-name input").first
        name.click()
        name.type("alice")
        page.keyboard.press("s")
        expect(name).to_have_value("alices")
        page.wait_for_timeout(1500)
        assert "Saved" not in page.locator("#annotate-message").inner_text()
        name.fill("alice")
        page.locator("#annotate-save").click()
        expect(page.locator("#annotate-message")).to_contain_text("by alice", timeout=30_000)
        browser.close()


def test_burmese_renders_with_the_shipped_myanmar_webfont(app_url):
    """The page carries its own Myanmar font, so Burmese is not boxes on machines without one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(app_url)
        page.locator("#predict-text textarea").fill("ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်")
        loaded = page.evaluate("""async () => (await document.fonts.load('16px "xsent Myanmar"', 'ကောင်း')).length""")
        assert loaded == 1
        family = page.evaluate("() => getComputedStyle(document.querySelector('#predict-text textarea')).fontFamily")
        assert family.startswith('"xsent Myanmar"'), family
        # Latin text does not download or use it: the face is limited to the Myanmar blocks
        assert page.evaluate("""async () => (await document.fonts.load('16px "xsent Myanmar"', 'fish')).length""") == 0
        browser.close()
