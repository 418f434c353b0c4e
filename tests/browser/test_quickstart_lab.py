"""The quickstart in JupyterLab 4: run from the page, its report cell shows the written report file in an
IFrame that JupyterLab serves from the notebook's folder (never the report inlined into the notebook)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat
import pytest
import test_jupyterlab as lab_page
from test_jupyterlab import lab  # noqa: F401 - the JupyterLab server fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "01_quickstart.ipynb"
BUDGET_S = 300  # the quickstart runs a whole pipeline from the page


def test_quickstart_in_jupyterlab_shows_the_report_file_in_an_iframe(lab, offline_page):  # noqa: F811
    lab_page._deadline[0] = time.monotonic() + BUDGET_S
    shutil.copy(QUICKSTART, lab["root"] / QUICKSTART.name)
    page = offline_page.page
    page.set_default_timeout(30_000)
    lab_page.run_notebook_in_page(page, lab["url"], lab["token"], QUICKSTART.name)
    lab_page.wait_text(page, ".jp-OutputArea-output", "critical path: load_data")  # the cell after the report's
    index = next(i for i, c in enumerate(nbformat.read(QUICKSTART, as_version=4).cells) if c.get("id") == "report-frame")
    page.evaluate(f"window.jupyterapp.shell.currentWidget.content.scrollToItem({index}, 'start')")
    frame = page.wait_for_selector("iframe[src*='report.html']", timeout=lab_page.left(60_000))
    src = frame.get_attribute("src")
    assert "/files/scratch/quickstart-" in src and src.split("?")[0].endswith("/report.html")  # served, not inline
    assert frame.get_attribute("srcdoc") is None
    report = page.frame_locator("iframe[src*='report.html']")
    report.locator("#steps").wait_for(timeout=lab_page.left())
    assert "model_evaluation" in report.locator("#steps").inner_text()
    link = page.locator("a[href*='report.html']").first
    assert "/files/scratch/quickstart-" in link.get_attribute("href")
    offline_page.screenshot("jupyterlab-quickstart-report")
    assert not offline_page.unexpected_requests
