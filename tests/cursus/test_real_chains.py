"""Real Cursus chains run end to end through ``pipetest cursus run``, as a Cursus user runs them.

The configs, DAGs, interfaces and scripts are Cursus's own (tests/fixtures/cursus_real, unedited); only
the data is synthetic (tests/fixtures/cursus_real_inputs), shaped like what the real loaders write. Each
test takes a sub-chain of a real DAG (the steps that run here: XGBoostTraining does not, its script
pip-installs pinned packages at import time and imports Cursus's own ``processing`` package).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")  # tabular_preprocessing.py splits with scikit-learn

FIXTURES = Path(__file__).parents[1] / "fixtures"
REAL = FIXTURES / "cursus_real"
INPUTS = FIXTURES / "cursus_real_inputs"


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


def run_real(tmp_path: Path, dag: Path, config: str, *inputs: str, overrides: Path | None = None) -> Path:
    """``pipetest cursus run`` with the real interfaces, scripts and config class sources; the run's folder."""
    flags: list[str | Path] = [f for item in inputs for f in ("--input", item)]
    if overrides is not None:
        flags += ["--overrides", overrides]
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


def cradle_outputs(folder: Path) -> dict[str, Path]:
    """What CradleDataLoading_training (an SDK step) leaves for the pipeline: Parquet shards of the
    job's output schema (dots written as ``__DOT__``), a signature of the column names, metadata."""
    data, signature, metadata = folder / "data", folder / "signature", folder / "metadata"
    for path in (data, signature, metadata):
        path.mkdir(parents=True)
    pd.read_csv(INPUTS / "atoz_training" / "part-00000.csv").to_parquet(data / "part-00000.parquet", index=False)
    shutil.copy(INPUTS / "atoz_training" / "signature", signature / "signature")
    (metadata / "metadata").write_text("objectId,STRING\norder_id,STRING\nis_abuse,STRING\n")
    return {"DATA": data, "SIGNATURE": signature, "METADATA": metadata}


def test_atoz_training_branch_from_cradle_data_given_as_files(tmp_path):
    """atoz_xgboost's config: CradleDataLoading_training runs no script (an SDK step), so its outputs are
    folders given with --input; TabularPreprocessing_training splits them with the config's label."""
    steps = ["CradleDataLoading_training", "TabularPreprocessing_training"]
    dag = sub_dag(tmp_path, "shared__xgboost__complete_e2e.dag.json", steps)
    given = cradle_outputs(tmp_path / "cradle")
    source = pd.read_csv(INPUTS / "atoz_training" / "part-00000.csv")

    run_dir = run_real(tmp_path, dag, "atoz_xgboost__config.json",
                       *(f"CradleDataLoading_training.{name}={path}" for name, path in given.items()))

    # the external step ran nothing: its outputs are the given folders, kept in the run like any step's
    (shard,) = output(run_dir, "CradleDataLoading_training", "DATA").glob("part-*.parquet")
    assert len(pd.read_parquet(shard)) == len(source)
    processed = output(run_dir, "TabularPreprocessing_training", "processed_data")
    splits = {split: pd.read_csv(processed / split / f"{split}_processed_data.csv") for split in
              ("train", "test", "val")}  # OUTPUT_FORMAT: the interface's CSV (the config sets none)
    assert {k: len(v) for k, v in splits.items()} == {"train": 28, "test": 6, "val": 6}  # 0.7, then 0.5
    assert sorted(pd.concat(splits.values())["order_id"]) == sorted(source["order_id"])
    columns = [c.replace("__DOT__", ".") for c in source.columns]
    for frame in splits.values():
        assert list(frame.columns) == columns
        assert set(frame["is_abuse"]) == {0, 1}  # LABEL_FIELD from the config's label_name
    assert splits["train"]["is_abuse"].sum() == 8  # stratified on the label: 12 of 40 are positive


def test_dummy_training_then_package_from_config_dummy_with_the_pretrained_model_given(tmp_path):
    """config_dummy.json's DummyTraining takes a pretrained model (its config's ``pretrained_model_path`` is an
    S3 URI, so the model is given with --input); Package takes DummyTraining's output (Cursus binds it by type,
    score 0.82) and packs it; its optional inference scripts are an empty folder."""
    import tarfile

    dag = sub_dag(tmp_path, "nb__rnr_pytorch_bedrock__demo_pipeline_dummy_pytorch_eval_mods.dag.json",
                  ["DummyTraining", "Package"])
    model = tmp_path / "pretrained"
    model.mkdir()
    (tmp_path / "model.pth").write_bytes(b"\0" * 64)
    (tmp_path / "hyperparameters.json").write_text(json.dumps({"id_name": "order_id",
                                                              "label_name": "llm_reversal_flag"}))
    with tarfile.open(model / "model.tar.gz", "w:gz") as tar:
        for name in ("model.pth", "hyperparameters.json"):
            tar.add(tmp_path / name, name)
    # Package's WORKING_DIRECTORY is Cursus's /tmp/mims_packaging_directory: kept inside the test's folder
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(f"steps:\n  Package:\n    env: {{WORKING_DIRECTORY: {tmp_path / 'work'}}}\n")

    run_dir = run_real(tmp_path, dag, "rnr_pytorch_bedrock__config_dummy.json",
                       f"DummyTraining.model_artifacts_input={model}", overrides=overrides)

    (trained,) = output(run_dir, "DummyTraining", "model_output").iterdir()
    with tarfile.open(trained) as tar:
        assert sorted(tar.getnames()) == ["hyperparameters.json", "model.pth"]
    (packaged,) = output(run_dir, "Package", "packaged_model").iterdir()
    with tarfile.open(packaged) as tar:
        assert sorted(tar.getnames()) == ["hyperparameters.json", "model.pth"]
    assert (tmp_path / "work" / "code").is_dir()  # the overrides' env reached the script
