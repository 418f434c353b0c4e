"""Binding inputs to outputs exactly as Cursus's pipeline assembler does, checked against what Cursus itself
wires for the real projects (tests/fixtures/cursus_real/reference, computed by Cursus's own assembler)."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from pipetest_nb.cursus import CursusIntegrationLayer
from pipetest_nb.exceptions import PipelineSpecError

REAL = Path(__file__).parents[1] / "fixtures" / "cursus_real"
PAIRS = {p["id"]: p for p in json.loads((REAL / "dags" / "pairs.json").read_text())["pairs"]}
#: The loadable pairs and the reference each binds like (ab_lightgbm's config binds like atoz, rnr_full like rnr).
BOUND_LIKE = {"atoz": "atoz", "ab_lightgbm_with_xgboost_dag": "atoz", "rnr": "rnr", "rnr_full": "rnr",
              "rnr_dummy": "rnr_dummy", "rnr_NA": "rnr_NA"}

NOOP = "def main(input_paths, output_paths, environ_vars, job_args):\n    pass\n"


def real_layer(pair: str) -> CursusIntegrationLayer:
    return CursusIntegrationLayer(REAL / PAIRS[pair]["dag"], REAL / PAIRS[pair]["config"], REAL / "interfaces",
                                  source_root=REAL / "scripts")


def reference(pair: str) -> dict:
    return json.loads((REAL / "reference" / f"{BOUND_LIKE[pair]}.json").read_text())


def wiring(layer: CursusIntegrationLayer) -> dict[str, str]:
    """``Consumer.input -> Producer.output`` for every spec dependency the assembler wires."""
    return {f"{step}.{name}": b.source for step in layer.steps
            for name, b in layer.assembler_bindings(step).items()}


def agreement(ours: dict[str, str], ref: dict) -> Counter:
    """Input by input: agree / differ / only Cursus / only pipetest / neither."""
    inputs = {f"{n}.{d}" for n, node in ref["nodes"].items() for d in node["dependencies"]}
    theirs = {k: v["from"] for k, v in ref["bindings"].items()}
    table: Counter = Counter()
    for key in inputs | set(ours):
        if key in theirs and key in ours:
            table["agree" if theirs[key] == ours[key] else "differ"] += 1
        else:
            table["only Cursus" if key in theirs else "only pipetest" if key in ours else "neither"] += 1
    return table


@pytest.mark.parametrize("pair", sorted(BOUND_LIKE))
def test_bindings_equal_cursus_input_by_input(pair):
    layer, ref = real_layer(pair), reference(pair)
    ours = wiring(layer)
    assert ours == {k: v["from"] for k, v in ref["bindings"].items()}
    assert not set(ours) & set(ref["unbound"])
    table = agreement(ours, ref)
    assert table["agree"] == len(ref["bindings"]) and table["neither"] == len(ref["unbound"])
    assert set(table) <= {"agree", "neither"}
    for step, node in ref["nodes"].items():  # the spec each builder holds, variant applied
        spec = layer.contract_for(step).spec
        assert {d: {"type": s.type, "required": s.required} for d, s in spec.dependencies.items()} == \
            node["dependencies"]
        assert {o: s.type for o, s in spec.outputs.items()} == node["outputs"]
    problems = [b.problem for step in layer.steps for b in layer.assembler_bindings(step).values() if b.problem]
    assert problems == []  # no true tie in Cursus's production wiring


@pytest.mark.parametrize("pair", sorted(BOUND_LIKE))
def test_no_output_feeds_two_inputs_of_one_consumer(pair):
    layer = real_layer(pair)
    for step in layer.steps:
        wired = {name: b.source for name, b in layer.assembler_bindings(step).items()}
        assert len(set(wired.values())) == len(wired), step
        bound = {b.input: b.source for b in layer.bindings_for(step) if b.source}
        assert bound == {name: wired[name] for name in bound}, step  # what runs is what Cursus wires
        assert len(set(bound.values())) == len(bound), step


@pytest.mark.parametrize("pair", ["atoz", "rnr", "rnr_dummy", "rnr_NA"])
def test_scores_equal_cursus_scores(pair):
    from pipetest_nb.cursus import compatibility

    layer, ref = real_layer(pair), reference(pair)
    for dependency, source, score in ref["candidates"]:
        consumer, name = dependency.split(".", 1)
        producer_step, output = source.split(".", 1)
        (producer,) = [p for p in layer.producers(consumer) if p.step == producer_step]
        ours = compatibility(layer.contract_for(consumer).spec.dependencies[name], producer.spec.outputs[output],
                             producer)
        assert ours == pytest.approx(score, abs=1e-3), (dependency, source)
    for key, bound in ref["bindings"].items():
        step, name = key.split(".", 1)
        assert layer.assembler_bindings(step)[name].confidence == pytest.approx(bound["score"], abs=1e-3)


def test_low_scores_cursus_really_wires_are_made_and_flagged():
    layer = real_layer("atoz")
    payload = {b.input: b for b in layer.bindings_for("Payload")}["custom_payload_input"]
    assert payload.source == "XGBoostTraining.evaluation_output" and payload.ok
    assert payload.warning.startswith("Cursus will bind Payload.custom_payload_input to "
                                      "XGBoostTraining.evaluation_output with score 0.54: probably unintended")
    warnings = {(f.step, f.name) for f in layer.check().findings if f.kind == "low_score_binding"}
    assert warnings == {("Payload", "custom_payload_input")}
    assert all(f.severity == "warning" for f in layer.check().findings if f.kind == "low_score_binding")


def test_variants_of_the_job_type_are_merged_over_the_base():
    layer = real_layer("atoz")
    training = layer.contract_for("CradleDataLoading_training").spec.outputs["DATA"]
    calibration = layer.contract_for("CradleDataLoading_calibration").spec.outputs["DATA"]
    assert "training" in training.semantic_keywords and "training" not in calibration.semantic_keywords
    assert "calibration" in calibration.semantic_keywords


# -- small projects ---------------------------------------------------------------------------------


def project(folder: Path, interfaces: dict[str, str], edges: list[tuple[str, str]],
            fields: dict[str, dict] | None = None, overrides: dict | None = None) -> CursusIntegrationLayer:
    """Steps named after their interface; each interface is YAML text, its script a no-op."""
    (folder / "scripts").mkdir(parents=True, exist_ok=True)
    (folder / "interfaces").mkdir(exist_ok=True)
    specific = {}
    for step, text in interfaces.items():
        script = step.split("_", 1)[0].lower() + ".py"
        (folder / "scripts" / script).write_text(NOOP)
        (folder / "interfaces" / f"{step}.step.yaml").write_text(textwrap.dedent(text).replace("ENTRY", script))
        specific[step] = {"processing_entry_point": script, **(fields or {}).get(step, {})}
    config = {"configuration": {"shared": {"processing_source_dir": "scripts"}, "specific": specific}}
    (folder / "config.json").write_text(json.dumps(config))
    dag = {"nodes": list(interfaces), "edges": [list(e) for e in edges]}
    return CursusIntegrationLayer(dag, folder / "config.json", folder / "interfaces", overrides=overrides)


LOADER = """
step_type: Loader
contract:
  entry_point: ENTRY
  outputs: {DATA: /out/data, METADATA: /out/meta, params: /out/params}
spec:
  outputs:
    DATA: {type: processing_output}
    METADATA: {type: processing_output}
    params: {type: processing_output}
"""


def consumer(dependencies: str) -> str:
    """A ``Prep`` interface whose contract reads every spec dependency (``    NAME: {spec}`` lines)."""
    names = [line.split(":", 1)[0].strip() for line in dependencies.splitlines() if line.strip()]
    inputs = "".join(f"    {n}: {{path: /in/{n}}}\n" for n in names)
    return f"step_type: Prep\ncontract:\n  entry_point: ENTRY\n  inputs:\n{inputs}spec:\n  dependencies:\n{dependencies}"


def test_one_output_feeds_at_most_one_input_of_a_consumer(tmp_path):
    layer = project(tmp_path, {"Loader": LOADER, "Prep": consumer(
        "    DATA_SECONDARY: {required: false}\n    DATA: {required: true}\n")}, [("Loader", "Prep")])
    bound = {b.input: b.source for b in layer.bindings_for("Prep")}
    # DATA is required: it takes Loader.DATA first; the optional one falls to the next distinct output
    assert bound == {"DATA": "Loader.DATA", "DATA_SECONDARY": "Loader.METADATA"}


def test_a_dependency_type_takes_only_compatible_output_types(tmp_path):
    layer = project(tmp_path, {"Loader": LOADER, "Prep": consumer(
        "    hyperparameters: {type: hyperparameters, required: false, semantic_keywords: [params]}\n"
        "    model: {type: model_artifacts, required: false}\n")}, [("Loader", "Prep")])
    assert [b.kind for b in layer.bindings_for("Prep")] == ["omitted", "omitted"]


def test_compatible_sources_count_even_when_an_alias_matches(tmp_path):
    from pipetest_nb.cursus import compatibility

    aliased = LOADER.replace("    DATA: {type: processing_output}", "    DATA: {type: processing_output, aliases: [INPUT]}")
    layer = project(tmp_path, {"Loader": aliased, "Other": aliased.replace("Loader", "Other"), "Prep": consumer(
        "    INPUT: {compatible_sources: [Loader]}\n")}, [("Other", "Prep"), ("Loader", "Prep")])
    (binding,) = layer.bindings_for("Prep")
    # both outputs have the alias INPUT; the listed producer gains 0.1, the other loses 0.1
    assert (binding.source, binding.kind, binding.confidence) == ("Loader.DATA", "alias", 1.0)
    assert "Other.DATA" in binding.candidates
    (dependency,) = layer.contract_for("Prep").spec.dependencies.values()
    (other, _) = layer.producers("Prep")
    assert compatibility(dependency, other.spec.outputs["DATA"], other) == pytest.approx(0.8)


def test_a_true_tie_is_an_error_with_an_override_ready_to_paste(tmp_path):
    import yaml

    interfaces = {"Loader": LOADER, "Twin": LOADER.replace("Loader", "Twin"), "Prep": consumer("    DATA: {}\n")}
    edges = [("Loader", "Prep"), ("Twin", "Prep")]
    (binding,) = project(tmp_path, interfaces, edges).bindings_for("Prep")
    assert binding.kind == "ambiguous" and "Loader.DATA, Twin.DATA" in binding.problem
    assert binding.candidates == ("Loader.DATA", "Twin.DATA") and binding.source is None
    line = binding.problem.rsplit("overrides file: ", 1)[1]
    assert line == "bindings: {Prep.DATA: Loader.DATA}"
    with pytest.raises(PipelineSpecError, match="only because it is declared first"):
        project(tmp_path, interfaces, edges).to_pipeline_dict()
    settled = project(tmp_path, interfaces, edges, overrides=yaml.safe_load(line))
    assert settled.to_pipeline_dict()["steps"]["Prep"]["inputs"]["DATA"] == {"from": "Loader.DATA"}


def test_an_override_binding_takes_its_output_out_of_the_walk(tmp_path):
    interfaces = {"Loader": LOADER, "Prep": consumer("    DATA_SECONDARY: {required: false}\n    DATA: {}\n")}
    layer = project(tmp_path, interfaces, [("Loader", "Prep")],
                    overrides={"bindings": {"Prep.DATA_SECONDARY": "Loader.DATA"}})
    bound = {b.input: (b.kind, b.source) for b in layer.bindings_for("Prep")}
    assert bound["DATA_SECONDARY"] == ("override", "Loader.DATA") and bound["DATA"][1] == "Loader.METADATA"


def test_variants_apply_per_job_type(tmp_path):
    prep = consumer("    DATA: {required: false, type: model_artifacts}\n") + (
        "variants:\n  calibration:\n    spec:\n      dependencies:\n        DATA: {type: processing_output}\n")
    layer = project(tmp_path, {"Loader": LOADER, "Prep_calibration": prep}, [("Loader", "Prep_calibration")])
    (binding,) = layer.bindings_for("Prep_calibration")
    assert binding.source == "Loader.DATA"  # the variant's type, the base's required flag
    assert layer.contract_for("Prep_calibration").spec.dependencies["DATA"].required is False
    training = project(tmp_path / "t", {"Loader": LOADER, "Prep_training": prep}, [("Loader", "Prep_training")])
    assert [b.kind for b in training.bindings_for("Prep_training")] == ["omitted"]  # base: model_artifacts
    by_field = project(tmp_path / "f", {"Loader": LOADER, "Prep_x": prep}, [("Loader", "Prep_x")],
                       fields={"Prep_x": {"job_type": "calibration"}})
    assert by_field.bindings_for("Prep_x")[0].source == "Loader.DATA"  # the config's job_type wins


def test_two_contracts_with_one_entry_point_are_an_error_naming_both(tmp_path):
    layer = project(tmp_path, {"Loader": LOADER}, [])
    (tmp_path / "interfaces" / "copy.step.yaml").write_text(
        textwrap.dedent(LOADER).replace("ENTRY", "loader.py"))  # the same step type: nothing tells them apart
    with pytest.raises(PipelineSpecError) as info:
        layer.contract_for("Loader")
    message = str(info.value)
    assert "2 contracts have entry point 'loader.py'" in message
    assert str(tmp_path / "interfaces" / "Loader.step.yaml") in message
    assert str(tmp_path / "interfaces" / "copy.step.yaml") in message
