"""The Cursus adapter: a Cursus DAG, configuration and script contracts read as a pipetest pipeline."""

from pipetest_nb.cursus.checks import ContractFinding, ContractValidationResult
from pipetest_nb.cursus.contracts import (
    ContractInput,
    CursusContract,
    JobArgument,
    read_python_contracts,
    read_step_interface,
)
from pipetest_nb.cursus.documents import CursusConfig, CursusDAG, read_cursus_config, read_cursus_dag
from pipetest_nb.cursus.environment import ENV_ALIASES
from pipetest_nb.cursus.layer import DEFAULT_MIN_CONFIDENCE, CursusIntegrationLayer, load_cursus_pipeline
from pipetest_nb.cursus.matching import Binding, compatibility, name_similarity, normalise_name
from pipetest_nb.cursus.overrides import CursusOverrides, read_overrides
from pipetest_nb.cursus.scan import NameUse, ScriptUsage, scan_script
from pipetest_nb.cursus.specs import DependencySpec, OutputSpec, StepSpec

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "ENV_ALIASES",
    "Binding",
    "ContractFinding",
    "ContractInput",
    "ContractValidationResult",
    "CursusConfig",
    "CursusContract",
    "CursusDAG",
    "CursusIntegrationLayer",
    "CursusOverrides",
    "DependencySpec",
    "JobArgument",
    "NameUse",
    "OutputSpec",
    "ScriptUsage",
    "StepSpec",
    "compatibility",
    "load_cursus_pipeline",
    "name_similarity",
    "normalise_name",
    "read_cursus_config",
    "read_cursus_dag",
    "read_overrides",
    "read_python_contracts",
    "read_step_interface",
    "scan_script",
]
