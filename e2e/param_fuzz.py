"""Property-based fuzzing of DAG params through the REST trigger: invalid conf must be refused, never run.

    fuzz_dag(client, dag_id, base_conf, examples=200, seed=0) -> FuzzReport

For one DAG it reads the params' JSON schemas from `GET /api/v2/dags/{id}/details` (what Airflow validates
against), starts from a valid conf and lets hypothesis mutate it — a param replaced by any JSON value or
a near miss, a required one dropped — then sends a few confs that are not objects at all.

Each conf the schemas refuse (checked here with the same `jsonschema` call Airflow's Param makes) is POSTed:
the answer must be a 4xx (400 for a param, 422 for a body that is not an object) within the client timeout,
and none of the run ids sent may exist afterwards (each POST names its run `fuzz_<token>_<n>`). Confs the
schemas accept are not sent: they would start real runs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from contracts.data_layout import SONGS
from stack.client import AirflowClient, AirflowClientError

FLOATS = st.floats(allow_nan=False, allow_infinity=False)  # what JSON can carry
JSON_SCALARS = st.none() | st.booleans() | st.integers() | FLOATS | st.text(max_size=300)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
)
# Strings near what a user types: paths that leave the root, ids with odd characters, long ones.
NEAR_MISSES = st.sampled_from(
    ["", " ", "../x.wav", "/etc/passwd", f"{SONGS}/../../x.wav", "a/b", "-lead", "x" * 2000, "ü", "nan", "0", "true"]
)
MISSING = object()
REPORTS: list[FuzzReport] = []  # every fuzz_dag of this process: the session's summary prints them


@dataclass
class FuzzReport:
    dag_id: str
    sent: int = 0  # invalid confs POSTed
    statuses: dict[int, int] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)  # runs of the sent ids that exist afterwards (must stay empty)

    def __str__(self) -> str:
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return f"{self.dag_id}: {self.sent} invalid confs sent ({answers}); runs created: {len(self.created)}"


def param_schemas(client: AirflowClient, dag_id: str) -> dict[str, dict]:
    """name → {"value": default or None, "schema": JSON schema} as the api-server serves them."""
    return dict(client.dag_details(dag_id).params or {})


def required(param: dict) -> bool:
    types = param["schema"].get("type")
    nullable = types == "null" or (isinstance(types, list) and "null" in types)
    return param.get("value") is None and not nullable


def conf_is_valid(conf: object, params: dict[str, dict]) -> bool:
    """What Airflow decides at trigger time: every param's final value (conf over default) fits its schema.
    A null conf is no conf (the defaults)."""
    conf = {} if conf is None else conf
    if not isinstance(conf, dict):
        return False
    for name, param in params.items():
        value = conf.get(name, param.get("value"))
        if name not in conf and required(param):
            return False
        try:
            jsonschema.validate(value, param["schema"], format_checker=jsonschema.FormatChecker())
        except jsonschema.ValidationError:
            return False
    return True


def mutated_confs(base: dict, params: dict[str, dict]) -> st.SearchStrategy[object]:
    names = sorted(params)
    one_change = st.tuples(st.sampled_from(names), JSON_VALUES | NEAR_MISSES | st.just(MISSING))

    def apply(changes: list[tuple[str, object]]) -> dict:
        conf = dict(base)
        for name, value in changes:
            if value is MISSING:
                conf.pop(name, None)
            else:
                conf[name] = value
        return conf

    return st.lists(one_change, min_size=1, max_size=3).map(apply)


NOT_AN_OBJECT = ["", "song_id=x", 0, 1.5, True, [], [{"song_id": "x"}]]  # a conf must be an object (or null)


def fuzz_dag(client: AirflowClient, dag_id: str, base: dict, *, examples: int, seed: int) -> FuzzReport:
    params = param_schemas(client, dag_id)
    if not conf_is_valid(base, params):
        raise AssertionError(f"the base conf of {dag_id} is itself invalid: {base}")
    report = FuzzReport(dag_id)
    prefix = f"fuzz_{secrets.token_hex(4)}_"

    def check(conf: object) -> None:
        if conf_is_valid(conf, params):
            return  # would start a real run
        try:
            client.trigger_raw(dag_id, conf, run_id=f"{prefix}{report.sent}")
        except AirflowClientError as exc:
            status = exc.status
            if status is None or not 400 <= status < 500:
                raise AssertionError(f"{dag_id}: conf {conf!r} answered {status}: {exc}") from None
        else:
            raise AssertionError(f"{dag_id}: invalid conf {conf!r} was accepted (a run was created)")
        report.sent += 1
        report.statuses[status] = report.statuses.get(status, 0) + 1

    fuzz = settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)(
        given(conf=mutated_confs(base, params))(check)
    )
    hypothesis_seed(seed)(fuzz)()
    for conf in NOT_AN_OBJECT:
        check(conf)
    runs = client.list_runs(dag_id, limit=1000)
    report.created = [run.dag_run_id for run in runs if run.dag_run_id.startswith(prefix)]
    REPORTS.append(report)
    return report
