"""The exceptions pipetest raises: one root, structured fields, and every one survives pickle.

Steps run in other processes (subprocesses, warm workers, Dask workers), so an exception raised
there must come back whole. Each class remembers the arguments it was built with and rebuilds
itself from them in ``__reduce__``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipetest_nb.text import did_you_mean


def _rebuild(cls: type, args: tuple, kwargs: dict) -> PipetestError:
    return cls(*args, **kwargs)


class PipetestError(Exception):
    """Root of every error pipetest raises on purpose. The message says what, where and what to do."""

    def __new__(cls, *args: Any, **kwargs: Any) -> PipetestError:
        self = super().__new__(cls, *args)
        self._init_args = (args, kwargs)
        return self

    def __reduce__(self) -> tuple:
        args, kwargs = self._init_args
        return (_rebuild, (type(self), args, kwargs))


@dataclass(frozen=True)
class SpecProblem:
    """One mistake in a pipeline file: where it is and what to do about it."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    step: str | None = None
    key: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file or "<pipeline>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        scope = []
        if self.step:
            scope.append(f"step '{self.step}'")
        if self.key:
            scope.append(f"key '{self.key}'")
        text = f"{where}: " + (f"{', '.join(scope)}: " if scope else "") + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class PipelineSpecError(PipetestError):
    """Every problem found in a pipeline definition, reported at once."""

    def __init__(self, problems: list[SpecProblem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in pipeline"
        if source:
            head += f" {source}"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class PipelineCycleError(PipelineSpecError):
    """The steps depend on each other in a circle; ``cycle`` lists it in order, first step repeated."""

    def __init__(self, cycle: list[str], source: str | None = None):
        self.cycle = list(cycle)
        path = " -> ".join(self.cycle)
        problem = SpecProblem(
            f"steps form a cycle: {path}",
            file=source,
            step=self.cycle[0] if self.cycle else None,
            hint="remove one of these bindings or depends_on entries",
        )
        super().__init__([problem], source=source)
        self._init_args = ((cycle,), {"source": source})


class UnknownStepError(PipetestError, KeyError):
    """A step name that the pipeline does not have."""

    def __init__(self, step: str, known: list[str]):
        self.step = step
        self.known = list(known)
        close = did_you_mean(step, self.known)
        hint = f"; {close}" if close else f"; steps are: {', '.join(self.known[:20])}"
        super().__init__(f"no step named '{step}' in this pipeline{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownEdgeError(PipetestError, KeyError):
    """A data edge (``producer.output``, ``consumer.input``) that the pipeline does not have."""

    def __init__(self, edge: tuple[str, ...], known: list[tuple[str, str]]):
        self.edge = tuple(edge)
        self.known = [tuple(e) for e in known]
        names = [f"{s} -> {t}" for s, t in self.known]
        wanted = " -> ".join(self.edge)
        close = did_you_mean(wanted, names)
        hint = f"; {close}" if close else f"; data edges are: {', '.join(names[:20]) or 'none'}"
        super().__init__(f"no data edge '{wanted}' in this pipeline{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class RunLockedError(PipetestError):
    """Another live process is writing this run."""

    def __init__(self, run_dir: str, holder: str = ""):
        self.run_dir = run_dir
        self.holder = holder
        super().__init__(f"run {run_dir} is being written by another process{f' ({holder})' if holder else ''}; "
                         "open it read-only, wait for that run to finish, or start a new run")


class RunNotFoundError(PipetestError):
    """A path that is not a run folder."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"{path} is not a pipetest run folder (no run.json or events.jsonl); "
                         "give a folder under <workspace>/runs/")


class ContractError(PipetestError):
    """A step cannot start: an input, env var or argument its contract needs is missing."""

    def __init__(self, step: str, problems: list[str]):
        self.step = step
        self.problems = list(problems)
        super().__init__(f"step '{step}' cannot start: " + "; ".join(self.problems))


class TableNotFoundError(PipetestError, LookupError):
    """A table (or column) an output does not hold; ``known`` lists what it does hold."""

    def __init__(self, table: str, where: str, known: list[str], kind: str = "table"):
        from difflib import get_close_matches

        self.table, self.where, self.known, self.kind = table, where, list(known), kind
        listed = ", ".join(self.known[:20]) + (" ..." if len(self.known) > 20 else "") or "none"
        if not table:
            message = f"{where} holds {len(self.known)} tables ({listed}): pick one with table='name' or a glob"
        else:
            close = get_close_matches(table, self.known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"{kind}s there: {listed}"
            message = f"no {kind} '{table}' in {where}; {hint}"
        super().__init__(message)


class SyntheticDataError(PipetestError):
    """Synthetic data cannot be generated for an input (no schema, or the target holds the user's file)."""

    def __init__(self, step: str, input_name: str, reason: str):
        self.step, self.input_name, self.reason = step, input_name, reason
        super().__init__(f"step '{step}', input '{input_name}': cannot generate synthetic data: {reason}")


class LaunchError(PipetestError):
    """A step could not be started at all (not a failure of the step: that is a ``StepOutcome``)."""

    def __init__(self, message: str):
        super().__init__(message)


class SuiteError(PipetestError):
    """An expectation suite file that cannot be read or written."""

    def __init__(self, file: str, reason: str):
        self.file, self.reason = file, reason
        super().__init__(f"expectation suite {file}: {reason}")


class RecordWriteError(PipetestError):
    """The run record could not be written (a full disk, a read-only folder): the run stops there."""

    def __init__(self, run_dir: str, reason: str):
        self.run_dir = run_dir
        self.reason = reason
        super().__init__(f"cannot write the run record of {run_dir}: {reason}; free some space (or fix the "
                         f"folder's permissions), then reopen the run (Session.open or `pipetest resume {run_dir}`): "
                         "finished steps keep their outputs")


class RunRecordError(PipetestError):
    """A run folder whose record cannot be read safely: damaged, hand-edited, hostile, or from a newer version."""

    def __init__(self, run_dir: str, file: str, reason: str):
        self.run_dir = run_dir
        self.file = file
        self.reason = reason
        super().__init__(f"cannot read run {run_dir}: {file}: {reason}; the run folder is damaged or was changed "
                         "by hand: open another run, or move this folder out of <workspace>/runs/")


class PipetestWarning(UserWarning):
    """Something went wrong beside the run (a view that broke on an event); the run itself goes on."""
