"""``Debugger``: the notebook face of a ``Session`` — load bar, toolbar, replay, live graph, inspector tabs.

Every button is one call on ``Debugger.session``; the graph and the tabs follow the session's
events, so ``dbg.session.step()`` typed in a cell and the Step button look the same. Runs go on in
a background thread (the widget stays live and Stop can kill the step); every handler catches its
own errors and shows them in the widget's message line (and keeps the traceback in ``errors``).
The replay slider moves the graph and the tabs to the state of a recorded run after any event.
"""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from pipetest_nb.events import Event, EventKind
from pipetest_nb.exceptions import PipetestError
from pipetest_nb.records.workspace import Workspace
from pipetest_nb.session import DEFAULT_WORKSPACE, Session
from pipetest_nb.spec.model import PipelineDAG
from pipetest_nb.views.notebook.graph import DagGraph
from pipetest_nb.views.notebook.inspector import Inspector, RunView, snapshot_record
from pipetest_nb.views.notebook.messages import (
    error_message,
    message,
    replay_label,
    run_message,
    run_options,
    status_line,
    step_message,
)

LIVE_LOG_CHARS = 200_000  # live log text kept per step and stream (the tail)


class Debugger(widgets.VBox):
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
        self.inspector = Inspector()
        self.selection: tuple[str, Any] | None = None
        self.replay_index: int | None = None  # None: the graph shows the live run
        self.errors: list[str] = []  # tracebacks of failed actions, newest last
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
        def button(text: str, css: str, tip: str, style: str = "") -> widgets.Button:
            b = widgets.Button(description=text, tooltip=tip, button_style=style, layout={"width": "auto"})
            b.add_class(f"pipetest-{css}")
            return b

        self.path_box = widgets.Text(placeholder="pipeline.yaml, a run folder, or a Cursus 'dag.json config.json contracts/'",
                                     layout={"width": "460px"})
        self.load_button = button("Load", "load", "load the pipeline or run named in the box")
        self.runs_dropdown = widgets.Dropdown(options=[("(no runs yet)", "")], layout={"width": "440px"})
        self.runs_dropdown.add_class("pipetest-runs")
        self.step_button = button("Step ▶", "step", "run the next ready step", "primary")
        self.run_all_button = button("Run all ▶▶", "run-all", "run every step that can run", "primary")
        self.run_to_button = button("Run to selected", "run-to", "run up to and including the selected step")
        self.rerun_button = button("Re-run selected", "rerun", "re-run the selected step on its recorded inputs")
        self.stop_button = button("Stop ■", "stop", "kill the running step cleanly", "danger")
        self.reset_button = button("Reset", "reset", "start a fresh run of the same pipeline")
        self.replay_prev = button("◀", "replay-prev", "one event back")
        self.replay_next = button("▶", "replay-next", "one event forward")
        self.replay_slider = widgets.IntSlider(min=0, max=0, value=0, description="replay", readout=True,
                                               continuous_update=False, layout={"width": "420px"})
        self.replay_slider.add_class("pipetest-replay")
        self.live_button = button("Live", "live", "back to the live state of the run")
        self.replay_label = widgets.HTML()
        self.status_line = widgets.HTML()
        self.status_line.add_class("pipetest-status")
        self.message = widgets.HTML()
        self.message.add_class("pipetest-message")
        self.graph_box = widgets.Box(layout={"width": "100%"})

        self.load_button.on_click(self._handler("Load", lambda: self.load(self.path_box.value)))
        self.runs_dropdown.observe(self._handler("Open run", self._picked_run), names="value")
        self.step_button.on_click(self._handler("Step", self.step))
        self.run_all_button.on_click(self._handler("Run all", self.run_all))
        self.run_to_button.on_click(self._handler("Run to selected", self.run_to))
        self.rerun_button.on_click(self._handler("Re-run selected", self.rerun))
        self.stop_button.on_click(self._handler("Stop", self.stop))
        self.reset_button.on_click(self._handler("Reset", self.reset))
        self.replay_prev.on_click(self._handler("Replay", lambda: self._nudge(-1)))
        self.replay_next.on_click(self._handler("Replay", lambda: self._nudge(+1)))
        self.replay_slider.observe(self._handler("Replay", self._slid), names="value")
        self.live_button.on_click(self._handler("Live", self.live))

        self.children = [
            widgets.HBox([self.path_box, self.load_button, self.runs_dropdown]),
            widgets.HBox([self.step_button, self.run_all_button, self.run_to_button, self.rerun_button,
                          self.stop_button, self.reset_button]),
            widgets.HBox([self.replay_prev, self.replay_slider, self.replay_next, self.live_button,
                          self.replay_label]),
            self.status_line, self.message, self.graph_box, self.inspector.widget,
        ]
        self.add_class("pipetest-debugger")
        self._refresh_controls()
        self._refresh_runs()

    # -- loading ---------------------------------------------------------------------------------

    def load(self, source: Any) -> None:
        """Show another pipeline or recorded run (see the class docstring for what ``source`` may be)."""
        if self.busy:
            raise PipetestError(f"{self._task} is running; press Stop or wait before loading something else")
        session, owned = self._open(source)
        self._detach()
        self.session, self._owns_session = session, owned
        self.graph = DagGraph(session.plan)
        self.graph.on_select(self._selected)
        self.graph_box.children = [self.graph.figure]
        self._run_id = session.run_id
        self._live_logs = {}
        self.selection, self.replay_index = None, None
        self._unsubscribe = session.events.subscribe(self._on_event)
        self.graph.apply_all(session.history())
        if not isinstance(source, (Session, PipelineDAG)):
            with self._syncing_widgets():
                self.path_box.value = str(source)
        self.inspector.show(None, self._view())
        self._refresh_runs()
        self._refresh_replay()
        self._refresh_controls()
        self._say(message("loaded", name=session.dag.name, steps=len(session.plan.execution_order),
                          run_id=session.run_id))

    def _open(self, source: Any) -> tuple[Session, bool]:
        """A session for ``source``, and whether this widget created it (and so closes it)."""
        if isinstance(source, Session):
            return source, False
        options = {"progress": False, **self.session_kwargs}
        if isinstance(source, PipelineDAG):
            return Session(source, **options), True
        parts = shlex.split(source) if isinstance(source, str) else [os.fspath(source)]
        if len(parts) in (2, 3, 4):
            from pipetest_nb.cursus.layer import load_cursus_pipeline

            return Session(load_cursus_pipeline(*parts), **options), True
        if len(parts) != 1:
            raise PipetestError(f"cannot load {source!r}: give one pipeline file or run folder, or a Cursus "
                                "DAG, its config, contracts folder and overrides ('dag.json config.json "
                                "[contracts/ [overrides.yaml]]'); "
                                "quote paths with spaces")
        path = Path(parts[0]).expanduser()
        if path.is_dir():
            if not (os.path.lexists(path / "run.json") or os.path.lexists(path / "events.jsonl")):
                raise PipetestError(f"{path} is a folder but not a run folder (no run.json); give a pipeline "
                                    "file (.yaml/.json) or a folder under <workspace>/runs/")
            options.pop("workspace", None)
            return Session.open(path, **options), True
        if not path.exists():
            raise PipetestError(f"{path} does not exist; give a pipeline file (.yaml/.json), a run folder, "
                                "or a Cursus DAG and its config")
        return Session(path, **options), True

    def _detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.session is not None and self._owns_session:
            self.session.close()
        if self.graph is not None:
            self.graph.figure.close()

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
        self._start("Step", self._need().step, lambda r: message("nothing") if r is None else step_message(r))

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
        self._start(f"Re-run {target}", lambda: self._need().run_step(target), step_message)

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
                self.graph.figure.close()
                self.graph = DagGraph(session.plan)
                self.graph.on_select(self._selected)
                self.graph_box.children = [self.graph.figure]
            self.graph.reset()

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

    # -- replay ----------------------------------------------------------------------------------

    def replay_to(self, index: int) -> None:
        """Show the run as it was just after its recorded event ``index`` (0-based; negative from the end)."""
        session = self._need()
        if self.busy:
            raise PipetestError(f"{self._task} is running; replay when it has finished")
        self._replay = replay = session.replay()
        if not len(replay):
            raise PipetestError("this run has no recorded events yet: run a step first")
        frame = replay.at(index)
        self.replay_index = frame.index
        assert self.graph is not None
        self.graph.reset()
        self.graph.apply_all(replay.events[: frame.index + 1])
        with self._syncing_widgets():
            self.replay_slider.max = len(replay) - 1
            self.replay_slider.value = frame.index
        self.replay_label.value = replay_label(frame.index, len(replay), frame.event)
        self.inspector.refresh(self._view(frame.record.data, frame.index))
        self._refresh_status()
        self._refresh_controls()

    def live(self) -> None:
        """Leave the replay: show the run as it is now."""
        session = self._need()
        self.replay_index = None
        assert self.graph is not None
        self.graph.reset()
        self.graph.apply_all(session.history())
        self._refresh_replay()
        self.inspector.refresh(self._view())
        self._refresh_status()
        self._refresh_controls()

    def _slid(self) -> None:
        if not self._syncing:
            self.replay_to(self.replay_slider.value)

    def _nudge(self, step: int) -> None:
        here = self.replay_index if self.replay_index is not None else self.replay_slider.max
        self.replay_to(min(max(here + step, 0), self.replay_slider.max))

    def _refresh_replay(self) -> None:
        if self.session is None:
            return
        self._replay = self.session.replay()
        count = len(self._replay)
        if self.replay_index is None:
            with self._syncing_widgets():
                self.replay_slider.max = max(count - 1, 0)
                self.replay_slider.value = self.replay_slider.max
            self.replay_label.value = (f"{count} events recorded: move the slider to see the run as it was"
                                       if count else "no events recorded yet")

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
        busy = self.busy if busy is None else busy
        loaded = self.session is not None
        for b in (self.step_button, self.run_all_button, self.reset_button):
            b.disabled = busy or not loaded
        for b in (self.run_to_button, self.rerun_button):
            b.disabled = busy or not loaded or self.selection is None
        self.stop_button.disabled = not busy
        self.load_button.disabled = self.runs_dropdown.disabled = self.path_box.disabled = busy
        for w in (self.replay_prev, self.replay_next, self.replay_slider):
            w.disabled = busy or not loaded
        self.live_button.disabled = busy or self.replay_index is None

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

    def _picked_run(self) -> None:
        value = self.runs_dropdown.value
        if self._syncing or not value or (self.session is not None and value == str(self.session.run_dir)):
            return
        self.load(value)

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
