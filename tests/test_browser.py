"""The sample browser in headless Chromium: filters, paging, thumbnails, and hostile model output.

Needs Debian's ``chromium`` (/usr/bin/chromium) and the ``playwright`` Python package; Playwright's
own browser download is never used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PIL import Image

from robustcot.analysis.report import ReportOptions, build_report_from_records
from robustcot.analysis.simulate import simulate_records

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="needs the playwright package (pip install playwright)"),
]


@pytest.fixture(scope="module")
def page_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = simulate_records(models=("hf:org/m",), benchmarks=("bench",), n_samples=12, seed=2)
    target = records.index[(records["variant"] == "wrong_think") & ~records["abstain"]
                           & (records["status"] == "ok")][0]
    records.loc[target, "response"] = XSS
    images = {sid: Image.new("RGB", (300, 200), "teal") for sid in records["sample_id"].unique()[:3]}
    out = tmp_path_factory.mktemp("browser")
    build_report_from_records(records, out, formats=("html",), images=images,
                              options=ReportOptions(n_boot=20, page_size=5))
    return out / "report.html"


def test_filters_paging_and_escaping(page_path: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(page_path.as_uri())
        page.wait_for_selector("#cards .card")

        assert page.locator("#cards .card").count() == 5  # page_size
        assert page.locator("#cards .cell").count() == 5 * 16  # 8 variants × abstain off/on per card
        assert page.locator(".page-label").first.text_content() == "page 1 of 3"
        page.locator(".pager .next").first.click()
        assert page.locator(".page-label").first.text_content() == "page 2 of 3"

        page.select_option("#f-variant", label="wrong_think")
        page.select_option("#f-abstain", label="off")
        page.check("#f-only")
        cells = page.locator("#cards .cell")
        assert cells.count() == 5
        assert set(cells.evaluate_all("cs => cs.map(c => c.dataset.variant)")) == {"wrong_think"}
        assert page.locator(".page-label").first.text_content() == "page 1 of 3"

        page.select_option("#f-outcome", label="wrong")
        outcomes = page.locator("#cards .cell").evaluate_all("cs => cs.map(c => c.dataset.outcome)")
        assert outcomes and set(outcomes) == {"wrong"}
        page.select_option("#f-outcome", label="all")

        hostile = page.locator("pre.response", has_text="window.__pwned=2")
        while hostile.count() == 0 and page.locator(".pager .next").first.is_enabled():
            page.locator(".pager .next").first.click()
        assert hostile.count() == 1
        assert XSS in hostile.first.text_content()
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert hostile.first.locator("img, script").count() == 0

        page.select_option("#f-variant", label="all")
        page.select_option("#f-abstain", label="either")
        page.fill("#f-search", "s000000")
        thumb = page.locator("#cards img.thumb")
        assert thumb.count() == 1 and thumb.first.get_attribute("loading") == "lazy"
        assert errors == []
        page.screenshot(path=str(tmp_path / "browser.png"), full_page=False)
        assert (tmp_path / "browser.png").stat().st_size > 0
        browser.close()
