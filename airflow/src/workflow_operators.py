"""The seed's import name for the HSS operators, kept so seed-era code (`from workflow_operators import …`) runs.

The operators live in `hss_airflow.operators`; new code imports them from there. This module only re-exports
them (the same classes, not copies, and the same `__all__`), and it is installed with the package, not put in
airflow/plugins.
"""

from hss_airflow.operators import *  # noqa: F403 (the re-export is the point)
from hss_airflow.operators import __all__ as __all__
