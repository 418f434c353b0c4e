"""``Debugger``: the notebook face of a ``Session`` — load bar, toolbar, replay, live graph, inspector tabs.

Every button is one call on ``Debugger.session``; the graph and the tabs follow the session's
events, so ``dbg.session.step()`` typed in a cell and the Step button look the same. Runs go on in
a background thread (the widget stays live and Stop can kill the step); every handler catches its
own errors and shows them in the widget's message line (and keeps the traceback in ``errors``).
The replay slider moves the graph and the tabs to the state of a recorded run after any event.
The tabs sit right of the graph when the output area is wide enough, else below it. When a step
fails, the producers upstream whose edge checks warned or failed are marked as suspects; the Diff
tab marks the steps that changed against another run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from pipetest_nb.events import Event, EventKind, StepStatus
from pipetest_nb.exceptions import PipetestError
from pipetest_nb.records.suspects import cause_message, suspects_of
from pipetest_nb.records.workspace import Workspace
from pipetest_nb.session import DEFAULT_WORKSPACE, Session
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.views.notebook.diff_tab import DiffTab
from pipetest_nb.views.notebook.graph import DagGraph
from pipetest_nb.views.notebook.inspector import Inspector, RunView, snapshot_record
from pipetest_nb.views.notebook.messages import (
    error_message,
    message,
    run_message,
    run_options,
    status_line,
    step_message,
)
from pipetest_nb.views.notebook.replaying import ReplayMixin
from pipetest_nb.views.notebook.search import find_step
from pipetest_nb.views.notebook.sources import open_session
from pipetest_nb.views.notebook.toolbar import CONTROLS, Toolbar

LIVE_LOG_CHARS = 200_000  # live log text kept per step and stream (the tail)
# The tabs take 400 px right of the graph when the debugger is at least 900 px wide, else the whole
# width below it. Inline widths that do not depend on the tabs having been drawn (the graph fills
# whatever its box is: DagGraph.widget); the debugger's own width decides, not the window's.
# (900px - 100%) * 1000 is hugely positive below 900 px and negative above it, so min(100%, ...)
# is 100% exactly when the debugger is narrow.
NARROW = "min(100%, calc((900px - 100%) * 1000))"
GRAPH_WIDTH = f"max(calc(100% - 420px), {NARROW})"
TABS_WIDTH = f"max(400px, {NARROW})"


class Debugger(ReplayMixin, widgets.VBox):
    """Step through a pipeline, or a recorded run, in a notebook.

    ``Debugger(source, **session_kwargs)``: ``source`` is a pipeline file (YAML/JSON), a
    ``PipelineDAG``, a ``Session``, a recorded run folder (``<workspace>/runs/<run_id>``), a Cursus
    pipeline as ``"dag.json config.json [contracts_dir [overrides.yaml]]"``, or nothing (then use the
    load bar). Keywords go to
    the ``Session`` it creates (``workspace=``, ``isolation=``, ``cache=``, ``data_source=``...).
    """

    def __init__(self, source: Any = None, **session_kwargs: Any):
        super().__init__()
        self.session_kwargs = session_kwargs
        self.session: Session | None = None
        self.graph: DagGraph | None = None
        self.diff_tab = DiffTab()
        self.inspector = Inspector(extra=(("Diff", self.diff_tab.widget),))
        self.selection: tuple[str, Any] | None = None
        self.replay_index: int | None = None  # None: the graph shows the live run
        self.errors: list[str] = []  # tracebacks of failed actions, newest last
        self.suspects: dict[str, str] = {}  # step -> why it is suspected of the shown failure
        self.cause: str | None = None  # the sentence naming the likeliest suspect
        self._owns_session = False
        self._unsubscribe: Callable[[], None] | None = None
        self._run_id: str | None = None
        self._live_logs: dict[str, dict[str, str]] = {}
        self._replay: Any = None
        self._task: str | None = None
        self._worker: threading.Thread | None = None
        self._lock = threading.RLock()
        self._syncing = False  # set while the code (not the user) moves the slider or drop-down
        self._build()
        if source is not None:
            self.load(source)

    # -- layout ----------------------------------------------------------------------------------

    def _build(self) -> None:
        self.toolbar = bar = Toolbar()
        for name in CONTROLS:  # the controls are the Debugger's attributes too: cells drive them
            setattr(self, name, getattr(bar, name))
        self.graph_box = widgets.Box(layout={"display": "block", "width": GRAPH_WIDTH, "overflow_x": "auto"})
        self.graph_box.add_class("pipetest-graph")
        self.inspector.widget.layout = widgets.Layout(width=TABS_WIDTH, min_width="0", flex="0 0 auto")
        self.main = widgets.Box([self.graph_box, self.inspector.widget],
                                layout={"display": "flex", "flex_flow": "row wrap", "align_items": "flex-start",
                                        "justify_content": "space-between", "width": "100%"})
        self.main.add_class("pipetest-main")

        bar.load_button.on_click(self._handler("Load", lambda: self.load(self.path_box.value)))
        bar.runs_dropdown.observe(self._handler("Open run", self._picked_run), names="value")
        bar.step_button.on_click(self._handler("Step", self.step))
        bar.run_all_button.on_click(self._handler("Run all", self.run_all))
        bar.run_to_button.on_click(self._handler("Run to selected", self.run_to))
        bar.rerun_button.on_click(self._handler("Re-run selected", self.rerun))
        bar.stop_button.on_click(self._handler("Stop", self.stop))
        bar.reset_button.on_click(self._handler("Reset", self.reset))
        bar.replay_prev.on_click(self._handler("Replay", lambda: self._nudge(-1)))
        bar.replay_next.on_click(self._handler("Replay", lambda: self._nudge(+1)))
        bar.replay_slider.observe(self._handler("Replay", self._slid), names="value")
        bar.live_button.on_click(self._handler("Live", self.live))
        bar.search_box.observe(self._handler("Find", self._searched), names="value")
        self.diff_tab.picker.observe(self._handler("Compare", self._picked_diff), names="value")

        self.children = [*bar.rows, self.main]
        self.add_class("pipetest-debugger")
        self._refresh_controls()
        self._refresh_runs()

    # -- loading ---------------------------------------------------------------------------------

    def load(self, source: Any) -> None:
        """Show another pipeline or recorded run (see the class docstring for what ``source`` may be)."""
        if self.busy:
            raise PipetestError(f"{self._task} is running; press Stop or wait before loading something else")
        session, owned = open_session(source, self.session_kwargs)
        self._detach()
        self.session, self._owns_session = session, owned
        self.graph = DagGraph(session.plan)
        self.graph.on_select(self._selected)
        self.graph_box.children = [self.graph.widget]
        self._run_id = session.run_id
        self._live_logs = {}
        self.selection, self.replay_index = None, None
        self._unsubscribe = session.events.subscribe(self._on_event)
        self.graph.apply_all(session.history())
        with self._syncing_widgets():
            if not isinstance(source, (Session, PipelineDAG)):
                self.path_box.value = str(source)
            self.search_box.options = tuple(session.plan.execution_order)
            self.search_box.value = ""
        self.diff_tab.clear()
        self.inspector.show(None, self._view())
        self._refresh_runs()
        self._refresh_replay()
        self._refresh_marks()
        self._refresh_controls()
        self._say(message("loaded", name=session.dag.name, steps=len(session.plan.execution_order),
                          run_id=session.run_id))

    def _detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.session is not None and self._owns_session:
            self.session.close()
        if self.graph is not None:
            self.graph.close()

    def close(self) -> None:
        """Stop what runs, stop following the session (closing it if this widget opened it), close the widget."""
        if self.busy and self.session is not None:
            self.session.stop()
            self.wait(30)
        self._detach()
        super().close()

    # -- actions: each is one call on the session --------------------------------------------------

    def step(self) -> None:
        """Run the next ready step (in the background)."""
        self._start("Step", self._need().step,
                    lambda r: message("nothing") if r is None else step_message(r, self._cause_of(r)))

    def run_all(self) -> None:
        """Run every step that can run (in the background)."""
        self._start("Run all", self._need().run_all, lambda r: run_message(self._need().record))

    def run_to(self, step: str | None = None) -> None:
        """Run up to and including ``step`` (default: the selected step, or the producer of the selected edge)."""
        target = step or self._selected_step("Run to selected")
        self._start(f"Run to {target}", lambda: self._need().run(until=target), lambda r: run_message(self._need().record))

    def rerun(self, step: str | None = None) -> None:
        """Re-run ``step`` (default: the selected one) on the recorded outputs of its upstream steps."""
        target = step or self._selected_step("Re-run selected")
        self._start(f"Re-run {target}", lambda: self._need().run_step(target),
                    lambda r: step_message(r, self._cause_of(r)))

    def stop(self) -> None:
        """Kill the running step(s); they become interrupted."""
        self._need().stop()
        self._say(message("stopping", task=self._task or "the run"))

    def reset(self) -> None:
        """Start a fresh run of the same pipeline (the old run stays on disk, in the runs drop-down)."""
        def fresh() -> None:
            session = self._need()
            before = session.plan.to_dict()
            session.reset()  # reads the pipeline file again
            self._run_id = session.run_id
            self._live_logs = {}
            assert self.graph is not None
            if session.plan.to_dict() != before:  # the file was edited: draw the pipeline it holds now
                self.graph.close()
                self.graph = DagGraph(session.plan)
                self.graph.on_select(self._selected)
                self.graph_box.children = [self.graph.widget]
                self.search_box.options = tuple(session.plan.execution_order)
            self.graph.reset()
            self.diff_tab.clear()

        self._start("Reset", fresh, lambda r: message("new_run", run_id=self._need().run_id))

    def select(self, kind: str | None, value: Any = None) -> None:
        """Select a step (``"step", name``) or an edge (``"edge", (source, target)``), as a click does."""
        if self.graph is None:
            raise PipetestError("nothing loaded: give a pipeline to Debugger(...) or use the Load box")
        self.graph.select(kind, value)
        if kind is None:
            self.selection = None
            self.inspector.show(None, self._view())
            self._refresh_controls()

    def find(self, query: str) -> str:
        """Select the step ``query`` names (exact, a part of its name, or a close spelling); returns its name."""
        if self.graph is None:
            raise PipetestError("nothing loaded: give a pipeline to Debugger(...) or use the Load box")
        step, matches = find_step(query, self.graph.model.steps)
        self.select("step", step)
        if len(matches) > 1:
            self._say(message("found", step=step, others=matches[1:6], more=max(len(matches) - 6, 0)))
        return step

    def compare(self, run: str | Path) -> dict[str, str]:
        """Show in the Diff tab what changed from another run (its folder) to the shown one, and mark the
        changed steps on the graph; returns step -> what changed."""
        session = self._need()
        record = self._replay.at(self.replay_index).record.data if self.replay_index is not None else \
            snapshot_record(session.record)
        changed = self.diff_tab.compare(session, record, run)
        self._refresh_marks(record)
        self.inspector.widget.selected_index = len(self.inspector.widget.children) - 1
        return changed

    @property
    def changed(self) -> dict[str, str]:
        """Step -> what changed, from the Diff tab's last comparison."""
        return dict(self.diff_tab.changed)

    @property
    def task(self) -> str | None:
        """What runs in the background now ("Step", "Run all"...), or None."""
        return self._task if self.busy else None

    @property
    def busy(self) -> bool:
        """Whether an action runs in the background now."""
        return self._worker is not None and self._worker.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background action to end; True when nothing runs any more."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return not self.busy

    # -- events ----------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """Follow the session: called in whatever thread runs the step (a button's or a cell's)."""
        if event.kind == EventKind.STEP_OUTPUT:
            streams = self._live_logs.setdefault(event.step or "", {})
            stream = event.data.get("stream", "stdout")
            streams[stream] = (streams.get(stream, "") + event.data.get("text", ""))[-LIVE_LOG_CHARS:]
            if self.replay_index is None:
                self.inspector.live_output(event.step or "", self._view())
            return
        if event.run_id != self._run_id:  # session.reset() typed in a cell: a new run
            self._run_id = event.run_id
            self._live_logs = {}
            if self.replay_index is None and self.graph is not None:
                self.graph.reset()
        if event.kind == EventKind.STEP_STARTED and event.step:
            self._live_logs[event.step] = {}
        if self.replay_index is None and self.graph is not None:
            self.graph.apply(event)
            if self._concerns_selection(event):
                self.inspector.refresh(self._view())
            elif event.kind in (EventKind.STEP_FINISHED, EventKind.RUN_FINISHED):
                self.inspector.refresh(self._view(), ("metrics",))
            if event.kind in (EventKind.STEP_FINISHED, EventKind.RUN_FINISHED, EventKind.STEP_STATUS):
                self._refresh_marks()
        if event.kind == EventKind.RUN_FINISHED and not self.busy:
            self._refresh_replay()  # a run driven from a cell has ended
            self._refresh_runs()
        self._refresh_status()

    def _concerns_selection(self, event: Event) -> bool:
        if self.selection is None:
            return False
        kind, value = self.selection
        if event.kind == EventKind.EDGE_CHECKED:
            return kind == "edge" and tuple(event.data.get("edge") or ()) == tuple(value)
        step = value if kind == "step" else value[0].split(".", 1)[0]
        return event.step == step and event.kind in (EventKind.STEP_STARTED, EventKind.STEP_FINISHED,
                                                     EventKind.STEP_STATUS)

    def _selected(self, kind: str, value: Any) -> None:
        """The graph's selection callback (a click, or ``select``)."""
        try:
            self.selection = (kind, value)
            record = None
            if self.replay_index is not None and self._replay is not None:
                record = self._replay.at(self.replay_index).record.data
            self.inspector.show(self.selection, self._view(record, self.replay_index))
            self._refresh_controls()
        except Exception as exc:
            self._show_error("Select", exc)

    def _view(self, record: dict[str, Any] | None = None, event: int | None = None) -> RunView:
        session = self._need()
        return RunView(dag=session.dag, plan=session.plan,
                       record=record if record is not None else snapshot_record(session.record),
                       run_dir=session.run_dir, live_logs=self._live_logs, event=event)

    # -- the background worker -------------------------------------------------------------------

    def _start(self, label: str, action: Callable[[], Any], done: Callable[[Any], str]) -> None:
        """Run ``action`` in the background; ``done`` turns its result into the message line."""
        self._need()
        with self._lock:
            if self.busy:
                raise PipetestError(f"{self._task} is still running; press Stop or wait for it")
            if self.replay_index is not None:
                self.live()
            self._task = label
            self._worker = threading.Thread(target=self._work, args=(label, action, done), daemon=True,
                                            name=f"pipetest-debugger-{label}")
            self._refresh_controls(busy=True)
            self._say(message("working", label=label))
            self._worker.start()

    def _work(self, label: str, action: Callable[[], Any], done: Callable[[Any], str]) -> None:
        try:
            self._say(done(action()))
        except Exception as exc:
            self._show_error(label, exc)
        finally:
            self._task = None
            try:
                self._refresh_runs()
                self._refresh_replay()
                self.inspector.refresh(self._view())
                self._refresh_status()
            except Exception as exc:
                self._show_error(label, exc)
            finally:
                self._refresh_controls(busy=False)

    # -- messages and controls -------------------------------------------------------------------

    def _handler(self, label: str, action: Callable[[], Any]) -> Callable[..., None]:
        """A widget callback that shows its own errors instead of losing them in the kernel log."""
        def handle(*_: Any) -> None:
            try:
                action()
            except Exception as exc:
                self._show_error(label, exc)

        return handle

    def _say(self, line: str) -> None:
        """Show ``line`` (from ``messages``) in the message line."""
        self.message.value = line

    def _show_error(self, label: str, exc: BaseException) -> None:
        line, trace = error_message(label, exc)
        self.errors.append(trace)
        self._say(line)

    def _refresh_controls(self, busy: bool | None = None) -> None:
        self.toolbar.refresh(self.busy if busy is None else busy, self.session is not None,
                             self.selection is not None, self.replay_index is not None)

    def _refresh_marks(self, record: dict[str, Any] | None = None) -> None:
        """Mark the suspects of the shown run's first failure, and the steps the Diff tab found changed."""
        if self.session is None or self.graph is None:
            return
        record = record if record is not None else snapshot_record(self.session.record)
        steps = record.get("steps") or {}
        failed = sorted((s for s, e in steps.items() if e.get("status") == StepStatus.FAILED),
                        key=lambda s: steps[s].get("finished_at") or 0)
        found = suspects_of(record, failed[0]) if failed else []  # as the run recorded them, if it did
        self.suspects = {s.step: s.finding() for s in reversed(found)}
        self.cause = cause_message(record, found, failed[0]) if failed else None
        self.graph.set_marks(suspects=self.suspects, changed=self.diff_tab.changed)

    def _cause_of(self, result: Any) -> str | None:
        """The likely cause of a failed step result (its suspects upstream), or None."""
        if result is None or result.status != StepStatus.FAILED:
            return None
        record = snapshot_record(self._need().record)
        return cause_message(record, suspects_of(record, result.step_name), result.step_name)

    def _refresh_status(self) -> None:
        if self.session is None or self.graph is None:
            self.status_line.value = ""
            return
        statuses = self.graph.statuses if self.replay_index is not None else self.session.status
        self.status_line.value = status_line(self.session.run_id, statuses, self.replay_index is not None)

    def _refresh_runs(self) -> None:
        """The drop-down of the workspace's runs, newest first, with their status."""
        workspace = self.session.workspace if self.session is not None else Workspace(
            Path(self.session_kwargs.get("workspace", DEFAULT_WORKSPACE)))
        options, shown = run_options(workspace, self.session)
        with self._syncing_widgets():
            self.runs_dropdown.options = options
            self.runs_dropdown.value = shown
            if self.session is not None:
                self.diff_tab.offer(self.session)

    def _picked_run(self) -> None:
        value = self.runs_dropdown.value
        if self._syncing or not value or (self.session is not None and value == str(self.session.run_dir)):
            return
        self.load(value)

    def _searched(self) -> None:
        if not self._syncing and self.search_box.value.strip():
            self.find(self.search_box.value)

    def _picked_diff(self) -> None:
        if not self._syncing and self.diff_tab.picker.value:
            self.compare(self.diff_tab.picker.value)

    @contextmanager
    def _syncing_widgets(self) -> Iterator[None]:
        """While set, moving the slider or the drop-down is the code's doing, not the user's."""
        before, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = before

    # -- helpers ---------------------------------------------------------------------------------

    def _need(self) -> Session:
        if self.session is None:
            raise PipetestError("nothing loaded: type a pipeline file or run folder in the box and press Load")
        return self.session

    def _selected_step(self, action: str) -> str:
        if self.selection is None:
            raise PipetestError(f"{action}: select a step (or an edge) in the graph first")
        kind, value = self.selection
        return value if kind == "step" else value[0].split(".", 1)[0]
