"""The debugger's controls: load bar, run buttons, replay slider, step search, and the lines under them.

Only the widgets and which of them can be pressed when; what they do is ``Debugger``'s. Each
control carries a ``pipetest-*`` CSS class, which is how browser tests (and users' own CSS) find it.
"""

from __future__ import annotations

import ipywidgets as widgets

# The controls, as attributes of the toolbar (and of the Debugger, for cells that drive it).
CONTROLS = ("path_box", "load_button", "runs_dropdown", "step_button", "run_all_button", "run_to_button",
            "rerun_button", "stop_button", "reset_button", "replay_prev", "replay_next", "replay_slider",
            "live_button", "replay_label", "status_line", "message", "search_box")


def _button(text: str, css: str, tip: str, style: str = "") -> widgets.Button:
    b = widgets.Button(description=text, tooltip=tip, button_style=style, layout={"width": "auto"})
    b.add_class(f"pipetest-{css}")
    return b


class Toolbar:
    """The controls above the graph, in three rows, and the status and message lines."""

    def __init__(self) -> None:
        self.path_box = widgets.Text(placeholder="pipeline.yaml, a run folder, or a Cursus 'dag.json config.json "
                                                 "contracts/'", layout={"width": "460px"})
        self.load_button = _button("Load", "load", "load the pipeline or run named in the box")
        self.runs_dropdown = widgets.Dropdown(options=[("(no runs yet)", "")], layout={"width": "440px"})
        self.runs_dropdown.add_class("pipetest-runs")
        self.step_button = _button("Step ▶", "step", "run the next ready step", "primary")
        self.run_all_button = _button("Run all ▶▶", "run-all", "run every step that can run", "primary")
        self.run_to_button = _button("Run to selected", "run-to", "run up to and including the selected step")
        self.rerun_button = _button("Re-run selected", "rerun", "re-run the selected step on its recorded inputs")
        self.stop_button = _button("Stop ■", "stop", "kill the running step cleanly", "danger")
        self.reset_button = _button("Reset", "reset", "start a fresh run of the same pipeline")
        self.search_box = widgets.Combobox(placeholder="find a step…", ensure_option=False, continuous_update=False,
                                           layout={"width": "240px"})
        self.search_box.add_class("pipetest-search")
        self.replay_prev = _button("◀", "replay-prev", "one event back")
        self.replay_next = _button("▶", "replay-next", "one event forward")
        self.replay_slider = widgets.IntSlider(min=0, max=0, value=0, description="replay", readout=True,
                                               continuous_update=False, layout={"width": "420px"})
        self.replay_slider.add_class("pipetest-replay")
        self.live_button = _button("Live", "live", "back to the live state of the run")
        self.replay_label = widgets.HTML()
        self.status_line = widgets.HTML()
        self.status_line.add_class("pipetest-status")
        self.message = widgets.HTML()
        self.message.add_class("pipetest-message")
        self.rows = [
            widgets.HBox([self.path_box, self.load_button, self.runs_dropdown], layout={"flex_flow": "row wrap"}),
            widgets.HBox([self.step_button, self.run_all_button, self.run_to_button, self.rerun_button,
                          self.stop_button, self.reset_button, self.search_box], layout={"flex_flow": "row wrap"}),
            widgets.HBox([self.replay_prev, self.replay_slider, self.replay_next, self.live_button,
                          self.replay_label], layout={"flex_flow": "row wrap"}),
            self.status_line, self.message,
        ]

    def refresh(self, busy: bool, loaded: bool, selected: bool, replaying: bool) -> None:
        """Enable what can be pressed now: nothing that starts work while work runs, Stop only then."""
        for b in (self.step_button, self.run_all_button, self.reset_button):
            b.disabled = busy or not loaded
        for b in (self.run_to_button, self.rerun_button):
            b.disabled = busy or not loaded or not selected
        self.stop_button.disabled = not busy
        self.load_button.disabled = self.runs_dropdown.disabled = self.path_box.disabled = busy
        for w in (self.replay_prev, self.replay_next, self.replay_slider):
            w.disabled = busy or not loaded
        self.search_box.disabled = not loaded
        self.live_button.disabled = busy or not replaying
