"""The chat page in Chromium with the real bundled model: a question gets a cited answer."""

import time

import pytest

from test_ui_browser import ask_in_browser, browser, serve  # noqa: F401  (browser is a fixture)

pytestmark = pytest.mark.slow


def test_real_model_answer_in_the_browser(real_assistant, browser, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    app, url = serve(real_assistant)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        started = time.perf_counter()
        reply, first_text = ask_in_browser(page, url, "L1正则为什么比L2正则更容易产生稀疏解？", 180_000)
        expect(page.locator("#sa-sources")).to_contain_text("第8题", timeout=180_000)
        expect(reply.locator('a[href^="#sa-src-"]').first).to_be_visible()
        print(f"first text in the browser after {first_text:.1f} s, sources after "
              f"{time.perf_counter() - started:.1f} s")
        page.screenshot(path=str(tmp_path / "real-chat.png"), full_page=True)
    finally:
        app.close()
