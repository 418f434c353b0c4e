"""The HTML run report in a real browser: the DAG and the tables render, offline, without console errors."""

from __future__ import annotations

import functools
import http.server
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipetest_nb import Session, write_html_report
from pipetest_nb.views.notebook.layout import NODE_UID, STATUS_COLORS

pytestmark = pytest.mark.browser

PIPELINE = """
name: report-in-browser
defaults: {isolation: inprocess, timeout: 60}
steps:
  make:
    script: make.py
    outputs: {table: {format: parquet}}
  use:
    script: use.py
    inputs: {table: {from: make.table, format: parquet}}
    outputs: {out: {}}
  after:
    script: after.py
    inputs: {data: use.out}
"""
SCRIPTS = {
    "make.py": """
        from pathlib import Path
        import pandas as pd

        def main(input_paths, output_paths, environ_vars, job_args):
            pd.DataFrame({"x": range(50)}).to_parquet(Path(output_paths["table"]) / "part-0.parquet")
            print("made 50 rows")
    """,
    "use.py": """
        def main(input_paths, output_paths, environ_vars, job_args):
            raise RuntimeError("<b>not bold</b>: planted failure")
    """,
    "after.py": "def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n",
}


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture
def served_report(tmp_path: Path) -> Iterator[str]:
    """A failed run's report, served from 127.0.0.1 (the harness lets nothing else through)."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pipeline.yaml").write_text(PIPELINE)
    for name, source in SCRIPTS.items():
        (tmp_path / "p" / name).write_text(textwrap.dedent(source))
    with Session(tmp_path / "p" / "pipeline.yaml", tmp_path / "ws", progress=False, cache=False,
                 on_error="fail_pipeline") as session:
        session.run_all()
        write_html_report(session, tmp_path / "site" / "report.html")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "site"))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/report.html"
    finally:
        server.shutdown()
        server.server_close()


def test_report_renders_offline(served_report, offline_page):
    page = offline_page.page
    page.goto(served_report)
    page.wait_for_selector(f"#dag g.trace{NODE_UID} path.point")
    page.wait_for_selector("#timeline .main-svg g.trace.bars")
    nodes = page.eval_on_selector_all(f"#dag g.trace{NODE_UID} path.point",
                                      "els => els.map(e => getComputedStyle(e).fill)")
    assert nodes == [rgb(STATUS_COLORS[s]) for s in ("succeeded", "failed", "blocked")]
    assert page.locator("#steps tbody tr").count() == 3
    assert page.locator("#root-failure h2").inner_text().startswith("Root failure: step use")
    assert "<b>not bold</b>" in page.locator("#root-failure pre").first.inner_text()  # shown as text
    assert page.locator("#root-failure b").count() == 0
    offline_page.screenshot("report")
    assert offline_page.console_errors == []
    assert offline_page.blocked == []
