"""Inputs Cursus makes from config fields at build time, made the same way for a local run.

Some Cursus steps take an input from the configuration, not from a producer: the interface's
``input_source_overrides`` names a config attribute (LabelRulesetGeneration writes its
``label_config`` / ``rule_definitions`` to ``label_config.json`` / ``ruleset.json``;
BedrockPromptTemplateGeneration its prompt settings to ``system_prompt.json`` ...; Package mounts
``inference_scripts_source``; DummyDataLoading its ``data_source``), and DummyTraining reads its
``pretrained_model_path``. Files are written under a folder pipetest owns, never beside the user's
configuration; a local path is bound where it is; an ``s3://`` path is not fetched (the user gives
the data with ``--input``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetest_nb.cursus.documents import read_yaml_or_json


@dataclass(frozen=True)
class BuildInput:
    """What one config-sourced input becomes: files to write in ``folder`` or a bound ``path``.

    ``remote`` is the ``s3://`` value of ``config_field`` when the data must be given by hand.
    """

    step: str
    input: str
    config_field: str
    path: Path | None = None
    files: dict[str, Any] = field(default_factory=dict)
    remote: str | None = None
    note: str = ""


def _condition(raw: Any) -> Any:
    """A rule condition as ``RuleCondition.to_script_format`` gives it (``None`` parts dropped)."""
    if not isinstance(raw, Mapping):
        return raw
    out: dict[str, Any] = {}
    if raw.get("field") is not None:
        out["field"] = raw["field"]
        out["operator"] = raw.get("operator")
        if raw.get("value") is not None:
            out["value"] = raw["value"]
    for key in ("all_of", "any_of", "none_of"):
        if raw.get(key) is not None:
            out[key] = [_condition(c) for c in raw[key]]
    return out


_LABEL_KEYS = ("output_label_name", "output_label_type", "label_values", "label_mapping", "default_label",
               "evaluation_mode", "sparse_representation")
_RULE_KEYS = ("rule_id", "name", "priority", "enabled", "conditions", "output_label", "description")


def ruleset_files(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``label_config.json`` and ``ruleset.json`` as ``generate_ruleset_config_bundle`` writes them."""
    files: dict[str, Any] = {}
    label = fields.get("label_config")
    if isinstance(label, Mapping):
        files["label_config.json"] = {k: label.get(k) for k in _LABEL_KEYS}
    rules = fields.get("rule_definitions")
    rules = rules.get("rules") if isinstance(rules, Mapping) else rules
    if isinstance(rules, list):
        files["ruleset.json"] = [
            {k: (_condition(r.get(k)) if k == "conditions" else r.get(k)) for k in _RULE_KEYS}
            if isinstance(r, Mapping) else r for r in rules]
    return files


def prompt_files(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The prompt bundle ``generate_prompt_config_bundle`` writes, one file per configured setting
    (the values as the configuration holds them: Cursus serialised them with their defaults filled)."""
    files: dict[str, Any] = {}
    for key, name in (("system_prompt_settings", "system_prompt.json"),
                      ("output_format_settings", "output_format.json"),
                      ("instruction_settings", "instruction.json")):
        if fields.get(key) is not None:
            files[name] = fields[key]
    categories = fields.get("category_definitions")
    if categories:
        files["category_definitions.json"] = categories
    return files


#: config attribute of ``input_source_overrides`` -> (the config fields it serialises, how)
_WRITTEN: dict[str, tuple[str, Callable[[Mapping[str, Any]], dict[str, Any]]]] = {
    "resolved_ruleset_configs_path": ("label_config, rule_definitions", ruleset_files),
    "resolved_prompt_configs_path": ("system_prompt_settings, output_format_settings, instruction_settings, "
                                     "category_definitions", prompt_files),
}
#: config attribute -> the config fields holding the path it returns, in Cursus's order
_PATHS: dict[str, tuple[str, ...]] = {
    "inference_scripts_source": ("inference_scripts_dir", "source_dir"),
    "get_data_source_uri": ("data_source",),
}
#: inputs that no interface names but whose builder fills them from a config field
_BY_STEP_TYPE: dict[tuple[str, str], str] = {("DummyTraining", "model_artifacts_input"): "pretrained_model_path"}


def config_sources(interface_file: Path | None) -> dict[str, str]:
    """The interface's ``contract.input_source_overrides``: input -> config attribute."""
    if interface_file is None or not interface_file.name.endswith((".yaml", ".yml")):
        return {}
    try:
        data = read_yaml_or_json(interface_file)
    except Exception:  # an unreadable interface is reported by the contract reader
        return {}
    contract = data.get("contract") if isinstance(data, Mapping) else None
    raw = contract.get("input_source_overrides") if isinstance(contract, Mapping) else None
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def _bound_path(step: str, name: str, fields: Mapping[str, Any], keys: tuple[str, ...],
                bases: tuple[Path, ...]) -> BuildInput | None:
    for key in keys:
        value = fields.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        if value.startswith("s3://"):
            return BuildInput(step, name, key, remote=value,
                              note=f"config field '{key}' is {value}: pipetest does not fetch S3 data; give a "
                                   f"local copy with --input {step}.{name}=PATH")
        for path in [Path(value)] if Path(value).is_absolute() else [base / value for base in bases]:
            if path.exists():
                return BuildInput(step, name, key, path=path, note=f"bound from config field '{key}' ({path})")
        return None  # Cursus mounts the first configured value; a missing one is left as today
    return None


def build_input(step: str, name: str, step_type: str, fields: Mapping[str, Any],
                sources: Mapping[str, str], bases: tuple[Path, ...]) -> BuildInput | None:
    """What Cursus's builder would give input ``name`` of ``step`` from its config, if anything; a
    relative path is looked up under each of ``bases`` (source root, configuration's folder)."""
    attr = sources.get(name)
    if attr in _WRITTEN:
        what, make = _WRITTEN[attr]
        files = make(fields)
        if not files:
            return None
        return BuildInput(step, name, what, files=files,
                          note=f"written from config fields {what}: {', '.join(files)}")
    if attr in _PATHS:
        return _bound_path(step, name, fields, _PATHS[attr], bases)
    key = _BY_STEP_TYPE.get((step_type, name))
    return _bound_path(step, name, fields, (key,), bases) if key else None


def write_build_input(built: BuildInput, root: Path) -> Path:
    """Write the input's files as Cursus does (``json.dump``, indent 2, non-ASCII kept) into
    ``root/STEP/INPUT`` and return that folder; a bound input returns its path."""
    if built.path is not None:
        return built.path
    folder = root / built.step / built.input
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, value in built.files.items():
        (folder / file_name).write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")
    return folder
