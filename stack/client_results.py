"""What a run left behind, read through the REST API (mixed into AirflowClient): XComs, approvals, assets, logs."""

from __future__ import annotations

import contextlib
import json

from airflow_client import client as af

from stack.client_errors import AirflowClientError
from stack.waiting import wait_until

ASSET_EVENTS_500_RETRY_S = 30.0  # see RunResults.asset_events


class RunResults:
    """Provided by AirflowClient: the generated APIs (xcoms, tis, assets), timeout and _call()."""

    xcoms: af.XComApi
    tis: af.TaskInstanceApi
    assets: af.AssetApi
    timeout: float

    def _call(self, what: str) -> contextlib.AbstractContextManager[None]:  # AirflowClient's
        raise NotImplementedError

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1):
        """An XCom value as the task returned it (JSON types)."""
        with self._call(f"read XCom {key!r} of task {task_id!r} in run {run_id!r} of DAG {dag_id!r}"):
            entry = self.xcoms.get_xcom_entry(
                dag_id, task_id, run_id, key, map_index=map_index, deserialize=True, _request_timeout=self.timeout
            )
        value = entry.actual_instance.value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    def approval(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> af.HITLDetail:
        """The human-in-the-loop request of a task waiting for an answer (subject, body, options)."""
        with self._call(f"read the approval request of {task_id!r} in run {run_id!r} of DAG {dag_id!r}"):
            return self.tis.get_hitl_detail(dag_id, run_id, task_id, map_index, _request_timeout=self.timeout)

    def respond(
        self, dag_id: str, run_id: str, task_id: str, option: str, map_index: int = -1
    ) -> af.HITLDetailResponse:
        """Answer it, as a person does under Required actions: PATCH .../taskInstances/{task}/{i}/hitlDetails."""
        payload = af.UpdateHITLDetailPayload(chosen_options=[option], params_input={})
        with self._call(f"answer {option!r} to {task_id!r} in run {run_id!r} of DAG {dag_id!r}"):
            return self.tis.update_hitl_detail(
                dag_id, run_id, task_id, map_index, payload, _request_timeout=self.timeout
            )

    def asset(self, asset_name: str) -> af.AssetResponse:
        """The asset named `asset_name`: who produces it (producing_tasks), what it schedules (scheduled_dags)."""
        with self._call(f"read asset {asset_name!r}"):
            found = self.assets.get_assets(name_pattern=asset_name, _request_timeout=self.timeout).assets
        [asset] = [a for a in found if a.name == asset_name] or [None]
        if asset is None:
            raise AirflowClientError(f"no asset named {asset_name!r}")
        return asset

    def asset_events(self, asset_name: str, *, source_run_id: str | None = None) -> list[af.AssetEventResponse]:
        """The events of the asset named `asset_name` (optionally only those one run emitted), oldest first.

        Airflow 3.3 answers 500 here while a run that one of the events created has not started yet: its response
        model requires the run's start_date (apache/airflow#71360, fixed upstream by #71379 after 3.3.2). Such a
        run starts within seconds, so a 500 is read again for up to ASSET_EVENTS_500_RETRY_S before it is raised.
        """
        asset = self.asset(asset_name)
        failures: list[AirflowClientError] = []

        def read() -> tuple[list[af.AssetEventResponse]] | None:  # a tuple: no events at all is an answer too
            try:
                with self._call(f"read the events of asset {asset_name!r}"):
                    return (
                        self.assets.get_asset_events(
                            asset_id=asset.id,
                            source_run_id=source_run_id,
                            order_by=["timestamp"],
                            _request_timeout=self.timeout,
                        ).asset_events,
                    )
            except AirflowClientError as exc:
                if exc.status != 500:
                    raise
                failures.append(exc)
                return None

        answered = wait_until(read, ASSET_EVENTS_500_RETRY_S, 0.5, "asset events", raise_on_timeout=False)
        if answered is None:
            raise failures[-1]
        return answered[0]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """The task's log as text: one line per structured log event."""
        with self._call(f"read the log of task {task_id!r} (try {try_number}) in run {run_id!r} of DAG {dag_id!r}"):
            # Raw JSON: the generated model keeps only `event` and `timestamp` of each record.
            response = self.tis.get_log_without_preload_content(
                dag_id,
                run_id,
                task_id,
                try_number,
                full_content=True,
                map_index=map_index,
                accept="application/json",
                _request_timeout=self.timeout,
            )
            if response.status >= 400:
                raise af.ApiException(status=response.status, reason=response.reason, body=response.data)
        lines = []
        for item in json.loads(response.data).get("content") or []:
            lines.extend(_log_lines(item) if isinstance(item, dict) else [str(item)])
        return "\n".join(lines)


def _log_lines(record: dict) -> list[str]:
    """A structured task-log record as text: time, level, message, then any exception with its last frames."""
    event = str(record.get("event", ""))
    if event.startswith(("::group::", "::endgroup::")):
        return []
    stamp = record.get("timestamp") or ""
    stamp = stamp.isoformat() if hasattr(stamp, "isoformat") else str(stamp)
    lines = [" ".join(x for x in (stamp, str(record.get("level", "")).upper(), event) if x)]
    for error in record.get("error_detail") or []:
        for frame in (error.get("frames") or [])[-3:]:
            lines.append(f'  File "{frame.get("filename")}", line {frame.get("lineno")}, in {frame.get("name")}')
        lines.append(f"  {error.get('exc_type')}: {error.get('exc_value')}")
    return lines
