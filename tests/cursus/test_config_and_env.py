"""Real Cursus configs load as Cursus's loader rebuilds them, and env vars and job arguments are the
ones Cursus's builders compute: measured against the reference Cursus itself produced
(tests/fixtures/cursus_real/reference), pair by pair, on the unedited configs and config class sources.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from pipetest_nb.cursus.config_classes import ConfigClasses, find_cursus_sources
from pipetest_nb.cursus.contracts import CursusContract, read_step_interface
from pipetest_nb.cursus.documents import read_cursus_config
from pipetest_nb.cursus.layer import CursusIntegrationLayer
from pipetest_nb.cursus.values import ConfigModel, unwrap
from pipetest_nb.exceptions import PipelineSpecError

REAL = Path(__file__).parents[1] / "fixtures" / "cursus_real"
CLASSES = REAL / "config_classes"
REFERENCE_PAIRS = ("atoz", "rnr", "rnr_dummy", "rnr_NA")


def _interfaces_by_step_type() -> dict[str, Path]:
    found = {}
    for file in sorted((REAL / "interfaces").glob("*.step.yaml")):
        match = re.search(r"^step_type: *(\w+)", file.read_text(encoding="utf-8"), re.M)
        if match:
            found.setdefault(match.group(1), file)
    return found


INTERFACES = _interfaces_by_step_type()


def interface(reference: dict, step: str) -> CursusContract:
    """The interface Cursus's builder of the step used: the one of its spec step type."""
    return read_step_interface(INTERFACES[reference["nodes"][step]["spec_step_type"]])


def real_layer(pair_id: str, **kwargs) -> CursusIntegrationLayer:
    pairs = {p["id"]: p for p in json.loads((REAL / "dags" / "pairs.json").read_text())["pairs"]}
    pair = pairs[pair_id]
    return CursusIntegrationLayer(REAL / pair["dag"], REAL / pair["config"], REAL / "interfaces",
                                  source_root=REAL / "scripts", **kwargs)


# -- serializer-faithful configs ------------------------------------------------------------------


def test_every_serializer_wrapper_is_unwrapped_at_any_depth():
    saved = {"__model_type__": "LabelConfig", "label": "y",
             "rules": {"__type_info__": "list", "value": [
                 {"__model_type__": "Rule", "when": {"__type_info__": "dict", "value": {"op": "in", "v": [1]}}}]},
             "pair": {"__type_info__": "tuple", "value": [1, 2]},
             "tags": {"__type_info__": "set", "value": ["a"]}, "frozen": {"__type_info__": "frozenset", "value": ["b"]},
             "at": {"__type_info__": "datetime", "value": "2025-06-11T19:33:22"},
             "kind": {"__type_info__": "enum", "enum_class": "m.Kind", "value": "binary"},
             "where": {"__type_info__": "path", "value": "/opt/x"}, "plain": {"a": [1, {"b": 2}]}}
    value = unwrap(saved)
    assert isinstance(value, ConfigModel) and value.model_type == "LabelConfig"
    assert value == {"label": "y", "rules": [{"when": {"op": "in", "v": [1]}}], "pair": (1, 2), "tags": ["a"],
                     "frozen": ["b"], "at": "2025-06-11T19:33:22", "kind": "binary", "where": "/opt/x",
                     "plain": {"a": [1, {"b": 2}]}}
    assert value["rules"][0].model_type == "Rule"
    assert json.loads(json.dumps(value))["rules"] == [{"when": {"op": "in", "v": [1]}}]


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, (list, tuple)):
        return set().union(*(_keys(v) for v in value))
    return set()


@pytest.mark.parametrize("config", sorted(p.name for p in (REAL / "configs").glob("*.json")))
def test_real_configs_load_with_no_wrapper_left_and_shared_under_specific(config):
    loaded = read_cursus_config(REAL / "configs" / config)
    raw = json.loads((REAL / "configs" / config).read_text())["configuration"]
    for step in loaded.specific:
        fields = loaded.step_fields(step)
        assert not _keys(fields) & {"__model_type__", "__type_info__"}, step
        assert set(fields) == (set(raw["shared"]) | set(raw["specific"][step])) - {"__model_type__"}
        for name, value in raw["shared"].items():
            if name not in raw["specific"][step]:
                assert fields[name] == value
        assert loaded.config_class(step) == raw["specific"][step]["__model_type__"]


def test_a_config_with_no_steps_is_rejected_naming_the_nodes():
    with pytest.raises(PipelineSpecError) as info:
        real_layer("munged_NA")
    text = str(info.value)
    assert "configuration.specific is empty" in text and "none of the DAG's 16 nodes" in text
    assert "Traceback" not in text and "PyTorchTraining" in text and "CradleDataLoading_tagging" in text


def test_dag_nodes_without_a_config_are_rejected_by_name():
    with pytest.raises(PipelineSpecError) as info:
        real_layer("ab_lightgbm")
    text = str(info.value)
    assert "'LightGBMTraining' has no entry in configuration.specific" in text
    assert "'LightGBMModelEval_calibration' has no entry" in text


# -- config class sources -------------------------------------------------------------------------


def test_config_class_defaults_and_bases_are_read_with_ast():
    classes = ConfigClasses(find_cursus_sources(CLASSES))
    assert [k.name for k in classes.mro("TabularPreprocessingConfig")] == [
        "TabularPreprocessingConfig", "ProcessingStepConfigBase", "BasePipelineConfig"]
    info = classes.field_info("TabularPreprocessingConfig", "optimize_memory")
    assert info.has_default and info.default is False and info.static
    assert classes.owns("TabularPreprocessingConfig", "get_environment_variables")
    assert not classes.owns("PayloadConfig", "get_environment_variables")  # it has _env_overrides instead


def test_an_installed_cursus_is_found_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "site" / "cursus"
    (package / "steps" / "configs").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('cursus was imported')\n")
    (package / "steps" / "configs" / "config_x.py").write_text("class XConfig(Base):\n    flag: bool = False\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "cursus", raising=False)
    assert find_cursus_sources() == package
    assert "cursus" not in sys.modules
    assert ConfigClasses(package).field_info("XConfig", "flag").default is False


def built(layer: CursusIntegrationLayer, step: str) -> tuple[dict, dict]:
    """The env and job arguments the layer gives the step's script."""
    reference = json.loads((REAL / "reference" / "rnr.json").read_text())
    reference["nodes"].update(json.loads((REAL / "reference" / "atoz.json").read_text())["nodes"])
    return layer.environment.env_and_args(step, interface(reference, step), {}, {})


def test_without_sources_there_is_a_note_and_only_fields_and_interface_defaults(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    layer = real_layer("atoz")
    assert "CradleDataLoadingConfig" in layer.environment.note and "--cursus-src" in layer.environment.note
    env, _ = built(layer, "TabularPreprocessing_training")
    assert env["OPTIMIZE_MEMORY"] == "true"  # the interface default: the class's False is not known
    assert real_layer("atoz", cursus_src=CLASSES).environment.note is None


# -- env vars and job arguments against Cursus's own ------------------------------------------------


def agreement() -> list[tuple[str, str, str, str]]:
    """(pair, step, variable, agree | differ | not derivable) for every reference value."""
    rows = []
    for pair in REFERENCE_PAIRS:
        reference = json.loads((REAL / "reference" / f"{pair}.json").read_text())
        layer = real_layer(pair, cursus_src=CLASSES)
        for step, want in reference["steps"].items():
            if want["env"] is None:  # Cursus's env holds pipeline variables with no text offline
                continue
            got = layer.environment.derived(step, interface(reference, step))
            for name, value in want["env"].items():
                verdict = ("not derivable" if name in got.not_derivable else
                           "agree" if got.env.get(name) == value else "differ")
                rows.append((pair, step, name, verdict))
    return rows


def test_env_vars_equal_cursus_for_every_pair_or_are_listed_as_not_derivable():
    rows = agreement()
    assert len(rows) == 252
    assert [r for r in rows if r[3] == "differ"] == []
    assert sum(r[3] == "not derivable" for r in rows) < 0.03 * len(rows)


@pytest.mark.parametrize("pair", REFERENCE_PAIRS)
def test_job_arguments_and_env_names_equal_cursus(pair):
    reference = json.loads((REAL / "reference" / f"{pair}.json").read_text())
    layer = real_layer(pair, cursus_src=CLASSES)
    for step, want in reference["steps"].items():
        if "error" in want:  # Cursus's builder stopped on a pipeline variable: nothing to compare
            continue
        got = layer.environment.derived(step, interface(reference, step))
        assert got.job_arguments == want["job_arguments"], step
        assert set(got.env) == set(want["env"]), step


def test_the_defects_of_the_issue_are_gone_in_the_built_steps():
    layer = real_layer("rnr", cursus_src=CLASSES)
    env, args = built(layer, "TabularPreprocessing_training")
    assert env["OPTIMIZE_MEMORY"] == "false" and args == {"job_type": "training"}
    assert built(layer, "ModelCalibration_calibration")[0]["USE_SECURE_PYPI"] == "true"
    assert built(layer, "LabelRulesetExecution_training")[1] == {"job_type": "training"}  # from --job-type
    env, args = built(layer, "BedrockPromptTemplateGeneration")
    assert args == {"include_examples": True, "template_version": "2.0"}
    assert "GENERATE_VALIDATION_SCHEMA" not in env  # a stale saved property is computed again
    atoz = real_layer("atoz", cursus_src=CLASSES)
    assert built(atoz, "Payload")[0]["CONTENT_TYPES"] == "text/csv"
    # Cursus passes no --job_type: the script's argparse gives None, and so does pipetest
    assert built(atoz, "XGBoostTraining")[1] == {"job_type": None}


# -- what cannot be derived -----------------------------------------------------------------------

CLASS_SOURCE = '''\
from pydantic import Field
from ...core.base.config_base import BasePipelineConfig


class ThingConfig(BasePipelineConfig):
    columns: list = Field(default_factory=list)
    job_type: str = Field(default="training")
    fancy: bool = Field(default=True)

    def get_environment_variables(self):
        env = {"COLUMNS": ",".join(self.columns), "FANCY": str(self.fancy).lower()}
        env["REMOTE"] = lookup_remote(self.endpoint_name)
        return env

    def get_job_arguments(self):
        return self._job_type_arg()


class PlainConfig(BasePipelineConfig):
    job_type: str = "training"
'''
BASE_SOURCE = '''\
class BasePipelineConfig(BaseModel):
    def _job_type_arg(self, flag="--job_type", default=None):
        value = getattr(self, "job_type", None)
        return None if value is None else [flag, str(value)]
'''
CONTRACT = """\
contract:
  entry_point: thing.py
  job_arguments: [{flag: --job_type, source: job_type}]
  env_vars: {required: [COLUMNS], optional: {FANCY: 'false', REMOTE: 'none', EXTRA: 'x'}}
"""


def synthetic(tmp_path: Path, config_class: str) -> tuple[Path, Path, Path, Path]:
    src = tmp_path / "cursus"
    (src / "steps" / "configs").mkdir(parents=True)
    (src / "core" / "base").mkdir(parents=True)
    (src / "steps" / "configs" / "config_thing.py").write_text(CLASS_SOURCE)
    (src / "core" / "base" / "config_base.py").write_text(BASE_SOURCE)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "thing.py").write_text(textwrap.dedent("""\
        def main(input_paths, output_paths, environ_vars, job_args):
            print(environ_vars["COLUMNS"], environ_vars.get("FANCY"), environ_vars.get("REMOTE"),
                  environ_vars.get("EXTRA"), job_args)
        """))
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "thing.step.yaml").write_text(CONTRACT)
    config = {"configuration": {"shared": {"processing_source_dir": "scripts"}, "specific": {"Thing": {
        "__model_type__": config_class, "processing_entry_point": "thing.py",
        "columns": {"__type_info__": "list", "value": ["order_id", "x"]}}}},
        "metadata": {"config_types": {"Thing": config_class}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "dag.json").write_text(json.dumps({"nodes": ["Thing"], "edges": []}))
    return tmp_path / "dag.json", tmp_path / "config.json", tmp_path / "contracts", src


def test_a_value_the_class_computes_out_of_reach_is_a_warning_with_the_override_to_set(tmp_path):
    dag, config, contracts, src = synthetic(tmp_path, "ThingConfig")
    layer = CursusIntegrationLayer(dag, config, contracts, cursus_src=src)
    step = layer.resolve_step_configuration("Thing")
    assert step.env == {"COLUMNS": "order_id,x", "FANCY": "true", "REMOTE": "none", "EXTRA": "x"}
    assert step.args == {"job_type": "training"}
    (warning,) = [f for f in layer.check().findings if f.kind == "env_not_derivable"]
    assert warning.severity == "warning" and warning.name == "REMOTE" and "endpoint_name" in warning.message
    assert "steps.Thing.env.REMOTE" in warning.hint and warning.file.endswith("config_thing.py")
    given = CursusIntegrationLayer(dag, config, contracts, cursus_src=src,
                                   overrides={"steps": {"Thing": {"env": {"REMOTE": "https://r"}}}})
    assert given.resolve_step_configuration("Thing").env["REMOTE"] == "https://r"
    assert not [f for f in given.check().findings if f.kind == "env_not_derivable"]


def test_job_arguments_only_where_the_config_class_opts_in(tmp_path):
    dag, config, contracts, src = synthetic(tmp_path, "PlainConfig")
    saved = json.loads(config.read_text())
    saved["configuration"]["specific"]["Thing"]["hyperparameters"] = {"__model_type__": "Hyper", "extra": [1, 2]}
    config.write_text(json.dumps(saved))
    layer = CursusIntegrationLayer(dag, config, contracts, cursus_src=src)
    step = layer.resolve_step_configuration("Thing")
    # the interface lists --job_type, but the class does not pass it: the script's argparse leaves it None
    assert step.args == {"job_type": None}
    assert step.env["COLUMNS"] == "order_id,x"  # the base resolver: the field, a list comma-joined
    assert step.env["EXTRA"] == "1,2"  # else hyperparameters.<name>
    assert step.env["FANCY"] == "false"  # no such field: the interface default


def test_s3_paths_cursus_computes_at_run_time_are_listed_as_not_derivable():
    reference = json.loads((REAL / "reference" / "rnr.json").read_text())
    layer = real_layer("rnr", cursus_src=CLASSES)
    step = "BedrockBatchProcessing_training"
    findings = layer.environment.findings(step, interface(reference, step), {}, {})
    assert {f.name for f in findings} == {"BEDROCK_BATCH_INPUT_S3_PATH", "BEDROCK_BATCH_OUTPUT_S3_PATH"}
    assert all(f.severity == "warning" and f"steps.{step}.env.{f.name}" in f.hint for f in findings)
    assert not layer.environment.findings(step, interface(reference, step),
                                          {"BEDROCK_BATCH_INPUT_S3_PATH": "s3://x", "BEDROCK_BATCH_OUTPUT_S3_PATH": "y"},
                                          {})


def test_cli_takes_the_cursus_sources(tmp_path):
    import subprocess

    dag, config, contracts, src = synthetic(tmp_path, "ThingConfig")
    done = subprocess.run([sys.executable, "-m", "pipetest_nb.views.cli", "cursus", "check", str(dag), str(config),
                           "--contracts", str(contracts), "--cursus-src", str(src)], capture_output=True, text=True,
                          timeout=120)
    assert "steps.Thing.env.REMOTE" in done.stdout and "Traceback" not in done.stderr
    assert "note:" not in done.stderr


@pytest.mark.parametrize("pair", REFERENCE_PAIRS)
def test_the_steps_pipetest_builds_run_with_cursus_env_and_job_arguments(pair):
    from pipetest_nb.cursus.environment import job_args_dict

    reference = json.loads((REAL / "reference" / f"{pair}.json").read_text())
    layer = real_layer(pair, cursus_src=CLASSES)
    built_steps = 0
    for step, want in reference["steps"].items():
        if want["env"] is None or layer.is_external(step):  # an external step runs no script
            continue
        config = layer.resolve_step_configuration(step)
        assert config.env == want["env"], step
        declared = dict.fromkeys(interface(reference, step).job_arguments)  # not passed: None, as argparse
        assert config.args == {**declared, **job_args_dict(want["job_arguments"])}, step
        built_steps += 1
    assert built_steps >= 4


def test_a_job_argument_cursus_does_not_pass_is_none_in_job_args_not_a_missing_value():
    """Cursus passes no --job_type to XGBoostTraining (its config class does not opt in); the script's
    argparse then gives job_args.job_type = None, so `cursus check` must not call it missing."""
    layer = real_layer("atoz", cursus_src=CLASSES)
    assert layer.resolve_step_configuration("XGBoostTraining").args == {"job_type": None}
    findings = [f for f in layer.check().findings if f.step == "XGBoostTraining" and f.severity == "error"]
    assert not [f for f in findings if f.kind == "missing_job_argument"], findings
