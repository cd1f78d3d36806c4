"""The seed's import name for the HSS operators, kept so seed-era code (`from workflow_operators import …`) runs.

The operators live in `hss_airflow.operators`; new code imports them from there. This module only re-exports
them (the same classes, not copies), and it is installed with the package, not put in airflow/plugins.
"""

from hss_airflow.operators import (
    AudioAnalysisOperator,
    ContentAnalysisOperator,
    IntelligenceOperator,
    MLPredictionOperator,
    MLTrainingOperator,
    WorkflowServiceOperator,
)

__all__ = [
    "AudioAnalysisOperator",
    "ContentAnalysisOperator",
    "IntelligenceOperator",
    "MLPredictionOperator",
    "MLTrainingOperator",
    "WorkflowServiceOperator",
]
