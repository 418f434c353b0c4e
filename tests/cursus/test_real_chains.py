"""Real Cursus chains run end to end through ``pipetest cursus run``, as a Cursus user runs them.

The configs, DAGs, interfaces and scripts are Cursus's own (tests/fixtures/cursus_real, unedited); only
the data is synthetic (tests/fixtures/cursus_real_inputs), shaped like what the real loaders write. Each
test takes a sub-chain of a real DAG (the steps that run here: XGBoostTraining does not, its script
pip-installs pinned packages at import time and imports Cursus's own ``processing`` package).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")  # tabular_preprocessing.py splits with scikit-learn

FIXTURES = Path(__file__).parents[1] / "fixtures"
REAL = FIXTURES / "cursus_real"
INPUTS = FIXTURES / "cursus_real_inputs"

pytestmark = pytest.mark.slow


def pipetest(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def sub_dag(folder: Path, dag_file: str, nodes: list[str]) -> Path:
    """The real DAG cut down to ``nodes`` (edges kept in file order), written as Cursus writes a DAG."""
    dag = json.loads((REAL / "dags" / dag_file).read_text())
    kept = {"nodes": [n for n in dag["dag"]["nodes"] if n in nodes],
            "edges": [e for e in dag["dag"]["edges"] if e[0] in nodes and e[1] in nodes]}
    path = folder / dag_file
    path.write_text(json.dumps({**dag, "dag": kept}, indent=2))
    return path


def run_real(tmp_path: Path, dag: Path, config: str, *inputs: str) -> Path:
    """``pipetest cursus run`` with the real interfaces, scripts and config class sources; the run's folder."""
    flags = [f for item in inputs for f in ("--input", item)]
    done = pipetest("cursus", "run", dag, REAL / "configs" / config, "--contracts", REAL / "interfaces",
                    "--source-root", REAL / "scripts", "--cursus-src", REAL / "config_classes", *flags,
                    "--workspace", tmp_path / "ws")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout.splitlines()[-1]
    (run_dir,) = (tmp_path / "ws" / "runs").iterdir()
    return run_dir


def output(run_dir: Path, step: str, name: str) -> Path:
    folder = run_dir / "steps" / step / "outputs" / name
    assert folder.is_dir(), f"{step}.{name} wrote nothing"
    return folder


def test_dummy_data_loading_then_tabular_preprocessing_from_config_dummy(tmp_path):
    """rnr_pytorch_bedrock's config_dummy.json: DummyDataLoading reads the user's files (its config's
    ``data_source`` is a folder on the author's machine), TabularPreprocessing takes its outputs."""
    pytest.importorskip("boto3")  # dummy_data_loading.py imports it (and never calls it)
    steps = ["DummyDataLoading_calibration", "TabularPreprocessing_calibration"]
    dag = sub_dag(tmp_path, "nb__rnr_pytorch_bedrock__demo_pipeline_dummy_pytorch_eval_mods.dag.json", steps)
    source = pd.read_csv(INPUTS / "rnr_calibration" / "part-00000.csv")

    run_dir = run_real(tmp_path, dag, "rnr_pytorch_bedrock__config_dummy.json",
                       f"DummyDataLoading_calibration.INPUT_DATA={INPUTS / 'rnr_calibration'}")

    # the loader: OUTPUT_FORMAT=PARQUET and WRITE_DATA_SHARDS=true come from the config
    (shard,) = output(run_dir, "DummyDataLoading_calibration", "DATA").glob("part-*.parquet")
    assert len(pd.read_parquet(shard)) == len(source)
    signature = output(run_dir, "DummyDataLoading_calibration", "SIGNATURE") / "signature"
    assert signature.read_text().split(",") == list(source.columns)
    metadata = json.loads((output(run_dir, "DummyDataLoading_calibration", "METADATA") / "metadata")
                          .read_text())
    assert metadata["data_info"]["total_rows"] == len(source)

    # the preprocessing: job type calibration keeps one split; Cursus's config says Parquet, no label
    (processed,) = output(run_dir, "TabularPreprocessing_calibration", "processed_data").glob("*/*")
    assert processed.relative_to(processed.parents[1]).as_posix() == \
        "calibration/calibration_processed_data.parquet"
    frame = pd.read_parquet(processed)
    assert len(frame) == len(source)  # DATA alone: the loader's DATA does not also feed DATA_SECONDARY
    assert list(frame.columns) == list(source.columns)
    assert sorted(frame["order_id"]) == sorted(source["order_id"])
    # OPTIMIZE_MEMORY is the config class's False, not the interface's 'true' (which downcasts to int8)
    assert frame["marketplace_id"].dtype == "int64"
