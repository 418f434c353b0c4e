"""Every exception survives pickle with its fields and message: steps run in other processes."""

from __future__ import annotations

import pickle

import pytest

from pipetest_nb import exceptions
from pipetest_nb.exceptions import (
    ContractError,
    LaunchError,
    PipelineCycleError,
    PipelineSpecError,
    PipetestError,
    RecordWriteError,
    RunLockedError,
    RunNotFoundError,
    RunRecordError,
    SpecProblem,
    SuiteError,
    SyntheticDataError,
    TableNotFoundError,
    UnknownEdgeError,
    UnknownStepError,
)

SAMPLES = [
    PipetestError("plain message"),
    PipelineSpecError([SpecProblem("bad", file="p.yaml", line=3, column=2, step="a", key="k", hint="fix")],
                      source="p.yaml"),
    PipelineCycleError(["a", "b", "a"], source="p.yaml"),
    UnknownStepError("lod", ["load", "train"]),
    RunLockedError("/w/runs/r1", "pid 12 on host"),
    RunNotFoundError("/tmp/x"),
    RunRecordError("/w/runs/r1", "run.json", "is a FIFO, not a regular file"),
    RecordWriteError("/w/runs/r1", "No space left on device"),
    ContractError("train", ["input 'DATA' is missing"]),
    UnknownEdgeError(("a.out", "b.IN"), [("a.out", "b.in")]),
    TableNotFoundError("trian", "/runs/r1/steps/s/outputs/o", ["train", "val"]),
    SyntheticDataError("load", "DATA", "no schema and no suite"),
    SuiteError("expectations/raw.json", "file not found"),
    LaunchError("a pool worker exited while starting"),
]


def test_every_exception_class_is_sampled():
    classes = {obj for obj in vars(exceptions).values()
               if isinstance(obj, type) and issubclass(obj, PipetestError)}
    assert classes == {type(e) for e in SAMPLES}


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trips_through_pickle(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert vars(again) == vars(error)


def test_messages():
    assert str(UnknownStepError("lod", ["load"])) == "no step named 'lod' in this pipeline; did you mean 'load'?"
    assert "p.yaml:3:2: step 'a', key 'k': bad (fix)" in str(SAMPLES[1])
