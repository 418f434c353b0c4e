"""The replay half of the ``Debugger``: the slider, ◀ ▶ and Live move the graph and the tabs through a
recorded run's events.

A mixin, so that the debugger's module stays one concept each: it uses the ``Debugger``'s session,
graph, inspector and controls (``_need``, ``_view``, ``_refresh_*``, ``_syncing_widgets``).
"""

from __future__ import annotations

from typing import Any

from pipetest_nb.exceptions import PipetestError
from pipetest_nb.views.notebook.messages import replay_label


class ReplayMixin:
    """``replay_to(index)`` and ``live()``, and the handlers of the replay controls."""

    replay_index: int | None
    _replay: Any

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
        self._refresh_marks(frame.record.data)
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
        self._refresh_marks()
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
