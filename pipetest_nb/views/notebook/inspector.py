"""The debugger's tabs for the selected step or edge: Data, Validation, Logs, Metrics, Config (and Diff).

``Inspector`` renders a ``RunView`` — the run record at some point (live, or a replayed event), the
pipeline, the run folder and the live log text — so the same tabs serve a running session and a
recorded run moved back in time. Each panel is rendered on its own; one that fails shows its error
in place and the others still work. A new selection opens the tab that answers first: a failed step
its Logs (the error on top), a warned or failed edge its Validation (failures first).
"""

from __future__ import annotations

import copy
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from pipetest_nb.events import EdgeState, StepStatus
from pipetest_nb.records.folder import RunFolder
from pipetest_nb.records.masking import pipeline_secrets, scrub
from pipetest_nb.validation.artifacts import inspect_output
from pipetest_nb.views.notebook.pages import PAGE_ROWS, read_page

from . import panels

if TYPE_CHECKING:
    from pipetest_nb.plan import PipelineExecutionPlan
    from pipetest_nb.spec.model import PipelineDAG

TABS = ("Data", "Validation", "Logs", "Metrics", "Config")
PARTS = ("data", "validation", "logs", "metrics", "config")
NOT_WRITTEN = (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.BLOCKED, StepStatus.SKIPPED)


@dataclass
class RunView:
    """What the tabs show: a run record (live or as of replayed event ``event``) and where its files are."""

    dag: PipelineDAG
    plan: PipelineExecutionPlan
    record: dict[str, Any]
    run_dir: Path
    live_logs: dict[str, dict[str, str]] = field(default_factory=dict)  # step -> stream -> text
    event: int | None = None  # None: live

    @property
    def order(self) -> list[str]:
        return list(self.plan.execution_order)

    def step(self, name: str) -> dict[str, Any]:
        return (self.record.get("steps") or {}).get(name) or {}

    def edge(self, source: str, target: str) -> dict[str, Any] | None:
        return (self.record.get("edges") or {}).get(f"{source}->{target}")


class Inspector:
    """The tab widget (``widget``), the Data tab's table picker and pager, and Validation's failures-only toggle.

    ``extra`` adds tabs after the built-in ones (title, widget), e.g. the debugger's Diff tab.
    """

    def __init__(self, extra: tuple[tuple[str, widgets.Widget], ...] = ()) -> None:
        self.table_picker = widgets.Dropdown(options=[], description="table", layout={"width": "420px"})
        self.prev_button = widgets.Button(description="◀ rows", layout={"width": "80px"}, disabled=True)
        self.next_button = widgets.Button(description="rows ▶", layout={"width": "80px"}, disabled=True)
        self.data = widgets.HTML()
        self.validation = widgets.HTML()
        self.logs = widgets.HTML()
        self.metrics = widgets.HTML()
        self.config = widgets.HTML()
        for name in PARTS:
            getattr(self, name).add_class(f"pipetest-{name}")
        self.failures_only = widgets.ToggleButton(value=False, description="failures only", icon="filter",
                                                  tooltip="list only the expectations that failed")
        self.failures_only.add_class("pipetest-failures-only")
        pager = widgets.HBox([self.table_picker, self.prev_button, self.next_button])
        self.widget = widgets.Tab(children=[widgets.VBox([pager, self.data]),
                                            widgets.VBox([self.failures_only, self.validation]), self.logs,
                                            self.metrics, self.config, *(w for _, w in extra)],
                                  titles=(*TABS, *(t for t, _ in extra)))
        self.widget.add_class("pipetest-tabs")
        self.selection: tuple[str, Any] | None = None
        self.view: RunView | None = None
        self.offset = 0
        self._picking = False  # the picker is being refilled: do not render each intermediate value
        self.table_picker.observe(lambda change: self._render_page(reset=True), names="value")
        self.failures_only.observe(lambda change: self._refresh_validation(), names="value")
        self.prev_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(+1))
        self.clear()

    # -- what is shown -----------------------------------------------------------------------------

    def clear(self, message: str = "Click a step or an edge in the graph.") -> None:
        self.selection = None
        self._set_tables([])
        for name in PARTS:
            getattr(self, name).value = panels.message_html(message)

    def show(self, selection: tuple[str, Any] | None, view: RunView) -> None:
        """Show ``selection`` (("step", name) or ("edge", (source, target))) as ``view`` has it."""
        self.selection, self.view = selection, view
        if selection is None:
            self.clear()
            self.view = view
            self.metrics.value = self._guard(lambda: panels.metrics_html(view.record, view.order, None, time.time()))
            return
        self.refresh(view)
        self.widget.selected_index = self._first_tab(selection, view)

    @staticmethod
    def _first_tab(selection: tuple[str, Any], view: RunView) -> int:
        """The tab that answers first: Logs for a failed step, Validation for a warned or failed edge, else Data."""
        kind, value = selection
        if kind == "step" and view.step(value).get("status") == StepStatus.FAILED:
            return TABS.index("Logs")
        if kind == "edge" and (view.edge(*value) or {}).get("state") in (EdgeState.WARNED, EdgeState.FAILED):
            return TABS.index("Validation")
        return TABS.index("Data")

    def _refresh_validation(self) -> None:
        if self.view is not None and self.selection is not None:
            self.refresh(self.view, ("validation",))

    def refresh(self, view: RunView, parts: tuple[str, ...] = PARTS) -> None:
        """Re-render some tabs for the current selection from a newer ``view``."""
        self.view = view
        if self.selection is None:
            if "metrics" in parts:
                self.metrics.value = self._guard(lambda: panels.metrics_html(view.record, view.order, None,
                                                                             time.time()))
            return
        kind, value = self.selection
        for part in parts:
            if part == "data":
                self._load_tables()
            else:
                getattr(self, part).value = self._guard(lambda part=part: self._render(part, kind, value, view))

    def _render(self, part: str, kind: str, value: Any, view: RunView) -> str:
        step = value if kind == "step" else value[0].split(".", 1)[0]
        if part == "validation":
            only = self.failures_only.value
            if kind == "edge":
                return panels.validation_edge_html(value, view.edge(*value), only)
            return panels.validation_step_html(step, view.step(step), view.record.get("edges") or {}, view.dag,
                                               only)
        if part == "logs":
            return panels.logs_html(step, view.step(step), self._logs(step, view),
                                    live=view.event is None and view.step(step).get("status") == StepStatus.RUNNING)
        if part == "metrics":
            return panels.metrics_html(view.record, view.order, step, time.time())
        if kind == "edge":
            return panels.config_edge_html(value, view.dag)
        return panels.config_step_html(step, view.step(step), view.plan.step_configs[step])

    def _logs(self, step: str, view: RunView) -> dict[str, str]:
        """Live text while the step runs in this session, else the log files of the run; secrets masked."""
        secrets = pipeline_secrets(view.dag)  # never from the pipeline file; logs were scrubbed as written
        live = view.live_logs.get(step) or {}
        if view.event is None and view.step(step).get("status") == StepStatus.RUNNING and live:
            return {stream: scrub(panels.tail(text), secrets) for stream, text in live.items()}
        folder = RunFolder(view.run_dir)
        logs = {stream: panels.read_log(folder.log_path(step, stream)) for stream in ("stderr", "stdout")}
        return {stream: scrub(logs[stream] or panels.tail(live.get(stream, "")), secrets) for stream in logs}

    def live_output(self, step: str, view: RunView) -> None:
        """New log text of ``step`` arrived: redraw the Logs tab if it shows that step."""
        if self.selection is None or view.event is not None:
            return
        kind, value = self.selection
        if (value if kind == "step" else value[0].split(".", 1)[0]) == step:
            self.refresh(view, ("logs",))

    # -- the Data tab ------------------------------------------------------------------------------

    def _load_tables(self) -> None:
        """Fill the table picker with the tables of the selected step's (or edge's) outputs."""
        try:
            choices, note = self._table_choices()
        except Exception:
            self._set_tables([])
            self.data.value = panels.error_html(traceback.format_exc())
            return
        self._set_tables(choices)
        if not choices and isinstance(note, list):
            self.data.value = panels.files_html(self._selected_step(), note)
        elif not choices:
            self.data.value = panels.message_html(note)
        else:
            self._render_page(reset=True)

    def _selected_step(self) -> str:
        assert self.selection is not None
        kind, value = self.selection
        return value if kind == "step" else value[0].split(".", 1)[0]

    def _table_choices(self) -> tuple[list[tuple[str, tuple[str, str, str]]], Any]:
        """The tables to pick from; else why there are none: a note, or the outputs (name, info) to list files of."""
        assert self.selection is not None and self.view is not None
        kind, value = self.selection
        view = self.view
        if kind == "edge":
            step, _, output = value[0].partition(".")
            names = [output]
        else:
            step = value
            names = list(view.dag.steps[step].outputs)
        entry = view.step(step)
        status = entry.get("status", StepStatus.PENDING)
        if status in NOT_WRITTEN:
            when = "at this point of the run" if view.event is not None else "yet"
            return [], f"step '{step}' is {status}: no data {when}"
        if not names:
            return [], f"step '{step}' declares no outputs"
        recorded = entry.get("outputs") or {}
        choices, infos = [], []
        for name in names:
            folder = recorded.get(name) or str(RunFolder(view.run_dir).output_dir(step, name))
            info = inspect_output(folder)
            infos.append((name, info))
            for table in info.tables:
                choices.append((f"{step}.{name} · {table}", (folder, table, f"{step}.{name}")))
        return choices, infos

    def _set_tables(self, choices: list[tuple[str, Any]]) -> None:
        self._picking = True
        try:
            self.table_picker.options = choices
            self.table_picker.value = choices[0][1] if choices else None
        finally:
            self._picking = False
        self.offset = 0
        self.prev_button.disabled = self.next_button.disabled = True

    def _turn(self, pages: int) -> None:
        self.offset = max(0, self.offset + pages * PAGE_ROWS)
        self._render_page()

    def _render_page(self, reset: bool = False) -> None:
        if self._picking or self.table_picker.value is None:
            return
        if reset:
            self.offset = 0
        folder, table, where = self.table_picker.value
        try:
            page = read_page(folder, table, self.offset, PAGE_ROWS)
            self.data.value = panels.data_html(page, where)
            self.prev_button.disabled = self.offset == 0
            self.next_button.disabled = not page.has_next
        except Exception:
            self.data.value = panels.error_html(traceback.format_exc())

    @staticmethod
    def _guard(render: Any) -> str:
        try:
            return render()
        except Exception:
            return panels.error_html(traceback.format_exc())


def snapshot_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of the live record; another thread may be updating it while we copy, so retry."""
    for _ in range(5):
        try:
            return copy.deepcopy(record)
        except RuntimeError:  # "dictionary changed size during iteration"
            continue
    return copy.deepcopy(record)
