"""What `make up`, `make down` and `make status` share: stack.json, the processes it names, the access lines.

Every process a stack starts leads its own process group, so a pid in stack.json is also a group id.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import psutil


def say(message: str = "") -> None:
    print(message, flush=True)


def pid_alive(pid: int | None) -> bool:
    """Whether `pid` runs (a zombie — exited, not yet reaped by its parent — counts as gone)."""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (every process the stack starts leads its own group)."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
    return members


def read_stack_file(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing, or being written right now


def live_pids(info: dict) -> dict[str, int]:
    pids = {name: pid for name, pid in (info.get("pids") or {}).items() if pid_alive(pid)}
    if pid_alive(launcher := info.get("launcher_pid")):
        pids["launcher"] = launcher
    return pids


RESULTS_PATH = "/hss/songs"  # the hss_ui plugin's song list (hss_airflow.web)


OPERATIONS_PATH = "/hss/operations"  # the hss_ui plugin's Operations page: charts read from Prometheus


def results_url(airflow_url: str) -> str:
    return f"{airflow_url.rstrip('/')}{RESULTS_PATH}"


def operations_url(airflow_url: str) -> str:
    return f"{airflow_url.rstrip('/')}{OPERATIONS_PATH}"


def balanced_note(info: dict, service: str) -> str:
    """'   (HAProxy before 2 replicas)' for workflow-audio when the stack runs its balancer."""
    if service != "workflow-audio" or not info.get("balancer"):
        return ""
    replicas = info.get("audio_replicas") or 1
    return f"   (HAProxy before {replicas} replica{'s' if replicas != 1 else ''}, docs/SCALING.md)"


def print_access(info: dict, stack_file: Path, env_file: Path) -> None:
    airflow = info.get("airflow") or {}
    say(f"stack is up ({info.get('backend', 'local')} backend) — details in {stack_file}")
    say(f"  Airflow UI   {airflow.get('url')}   login {airflow.get('username')} / {airflow.get('password')}")
    say(f'  results      {results_url(airflow.get("url") or "")}   (the UI\'s nav entry "Song analyses", same login)')
    if flower := info.get("flower"):
        login = f"   login {flower.get('username')} / {flower.get('password')}" if flower.get("password") else ""
        say(f"  Flower       {flower.get('url')}{login}")
    for name, url in (info.get("services") or {}).items():
        say(f"  {name:<24} {url}{balanced_note(info, name)}")
    if info.get("prometheus"):
        say(f"  operations   {operations_url(airflow.get('url') or '')}   (charts from Prometheus, same login)")
    if prometheus := info.get("prometheus"):
        say(f"  Prometheus   {prometheus['url']}   (Airflow's and the services' metrics, alert rules; no login)")
    if alertmanager := info.get("alertmanager"):
        say(f"  Alertmanager {alertmanager['url']}   (firing alerts are mailed to the folder below)")
    say(f'  API key      HSS_API_KEY in {env_file} (also "api_key" in {stack_file.name}); send it as X-API-Key')
    say(f"  data root    {info.get('data_root')}")
    if info.get("mail_dir"):
        say(f"  alert mails  {info['mail_dir']} (one .eml file per message from the stack's SMTP sink)")
    say("make down stops it; make status shows what answers.")
