"""The debugger's Diff tab: this run against another run of the same pipeline, step by step and output by output.

What changed is ``validation.diff.diff_outputs``' finding for each output both runs recorded (files,
schema, rows, null rates, ranges, top values); a step that ran in one run only, or whose status
differs, is listed too. ``changed`` (step -> a short reason) is what the graph highlights.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from pipetest_nb.records.record import load_record
from pipetest_nb.validation.diff import OutputDiff, diff_outputs
from pipetest_nb.views.notebook import panels
from pipetest_nb.views.templating import render

if TYPE_CHECKING:
    from pipetest_nb.session import Session

MAX_LINES = 40  # lines of one output's diff shown


@dataclass
class StepDiff:
    """One step in both runs: statuses, and each output's diff (or why there is none)."""

    step: str
    statuses: tuple[str, str]  # (other run, this run)
    outputs: dict[str, OutputDiff | str] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        """Why the step counts as changed, or None."""
        changed = [n for n, d in self.outputs.items() if isinstance(d, OutputDiff) and d.changed]
        if changed:
            return f"output{'s' if len(changed) > 1 else ''} {', '.join(changed)} changed"
        if self.statuses[0] != self.statuses[1]:
            return f"{self.statuses[0]} → {self.statuses[1]}"
        return None


def diff_runs(other: dict[str, Any], this: dict[str, Any], order: list[str]) -> list[StepDiff]:
    """Each step of ``order`` as the ``other`` run record and ``this`` one have it."""
    diffs = []
    for step in order:
        old, new = (other.get("steps") or {}).get(step) or {}, (this.get("steps") or {}).get(step) or {}
        diff = StepDiff(step, (old.get("status", "pending"), new.get("status", "pending")))
        old_out, new_out = old.get("outputs") or {}, new.get("outputs") or {}
        for name in dict.fromkeys([*new_out, *old_out]):
            if name not in old_out or name not in new_out:
                diff.outputs[name] = f"recorded in {'this' if name in new_out else 'the other'} run only"
                continue
            try:
                diff.outputs[name] = diff_outputs(Path(old_out[name]), Path(new_out[name]))
            except Exception as exc:  # one unreadable output must not hide the others
                diff.outputs[name] = f"cannot compare: {type(exc).__name__}: {exc}"
        diffs.append(diff)
    return diffs


def diff_html(other_id: str, this_id: str, diffs: list[StepDiff]) -> str:
    """The Diff tab: the changed steps first, each output's findings as lines; then the unchanged ones."""
    rows = []
    for d in diffs:
        outputs = []
        for name, found in d.outputs.items():
            if isinstance(found, str):
                outputs.append((name, False, [found]))
            else:
                lines = str(found).splitlines()[1:] if found.changed else []
                outputs.append((name, found.changed, [line.strip() for line in lines[:MAX_LINES]]))
        rows.append({"step": d.step, "statuses": d.statuses, "reason": d.reason, "outputs": outputs})
    rows.sort(key=lambda r: r["reason"] is None)
    return render("notebook_diff.html", other=other_id, this=this_id, rows=rows,
                  colours=panels.BADGE_COLOURS, muted=panels.MUTED)


class DiffTab:
    """A run picker (the other runs of the same pipeline) and what changed against the shown run."""

    def __init__(self) -> None:
        self.picker = widgets.Dropdown(options=[("(pick a run to compare with)", "")], description="compare with",
                                       layout={"width": "520px"}, style={"description_width": "initial"})
        self.picker.add_class("pipetest-diff-runs")
        self.html = widgets.HTML(panels.message_html("Pick another run of this pipeline to see what changed."))
        self.html.add_class("pipetest-diff")
        self.widget = widgets.VBox([self.picker, self.html])
        self.changed: dict[str, str] = {}  # step -> why it counts as changed
        self.diffs: list[StepDiff] = []

    def offer(self, session: Session) -> None:
        """Refill the picker with the other runs of ``session``'s pipeline, newest first."""
        name = session.dag.name
        options = [("(pick a run to compare with)", "")]
        for record in session.workspace.runs():
            if record.run_id == session.run_id or record.problem:
                continue
            if ((record.data.get("pipeline") or {}).get("name")) != name:
                continue
            options.append((f"{record.run_id} · {record.status}", str(session.workspace.runs_dir / record.run_id)))
        current = self.picker.value if self.picker.value in {v for _, v in options} else ""
        self.picker.options = options
        self.picker.value = current

    def compare(self, session: Session, this: dict[str, Any], other_dir: str | Path) -> dict[str, str]:
        """Show what changed from the run in ``other_dir`` to ``this`` record; returns the changed steps."""
        other = load_record(Path(other_dir))
        try:
            self.diffs = diff_runs(other.data, this, list(session.plan.execution_order))
            self.html.value = diff_html(other.run_id, session.run_id, self.diffs)
        except Exception:
            self.diffs = []
            self.html.value = panels.error_html(traceback.format_exc())
        self.changed = {d.step: r for d in self.diffs if (r := d.reason)}
        return self.changed

    def clear(self) -> None:
        self.diffs, self.changed = [], {}
        self.html.value = panels.message_html("Pick another run of this pipeline to see what changed.")
