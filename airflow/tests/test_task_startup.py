"""What every task process and DAG parse imports: the plugins folder holds only real AirflowPlugins (Airflow
imports every file there in every task), hss_airflow is an installed package, and the Celery worker preloads
every module the DAG files need (hss_airflow/preload.py), and so does make demo's LocalExecutor before it forks its
workers, so a forked task has them.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stack.paths import DAGS_SOURCE as DAGS_FOLDER
from stack.paths import PLUGINS_FOLDER
from stack.paths import REPO_ROOT as REPO


def our_modules(path: Path) -> set[str]:
    """Top-level imports of a file that come from this repo (hss_airflow.*, contracts.*)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {n for n in names if n.split(".")[0] in ("hss_airflow", "contracts")}
    return found


def test_every_file_in_the_plugins_folder_is_an_airflow_plugin() -> None:
    # Airflow imports each of these in every component and task process; a library here costs every task.
    not_plugins = [p.name for p in PLUGINS_FOLDER.rglob("*.py") if "AirflowPlugin" not in p.read_text()]
    assert not_plugins == [], f"{not_plugins} define no AirflowPlugin: move them into hss_airflow"
    assert not (PLUGINS_FOLDER / ".airflowignore").exists()  # nothing to hide from the scan


def test_hss_airflow_is_an_installed_distribution() -> None:
    dist = importlib.metadata.distribution("hss-airflow")
    requires = " ".join(dist.requires or [])
    assert "apache-airflow" in requires  # the package declares what it imports
    import hss_airflow

    assert Path(hss_airflow.__file__).resolve().is_relative_to(REPO / "airflow" / "src")  # the editable install


def test_the_seeds_import_name_gives_the_same_operator_classes() -> None:
    import workflow_operators
    from hss_airflow import operators

    for name in workflow_operators.__all__:
        assert getattr(workflow_operators, name) is getattr(operators, name)  # re-exported, not copied


def bundle_modules() -> set[str]:
    """The modules of the DAG bundle classes the stacks configure (stack/dag_repo.py; compose is checked equal)."""
    from stack.dag_repo import bundle_env

    bundles = json.loads(bundle_env("/srv/dags.git")["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
    return {bundle["classpath"].rpartition(".")[0] for bundle in bundles}


def test_the_worker_preload_covers_every_module_the_dag_files_import(fresh_python: Callable[..., Any]) -> None:
    needed = sorted(set().union(*(our_modules(f) for f in DAGS_FOLDER.glob("*.py"))) | bundle_modules())
    assert "hss_airflow.operators" in needed and "hss_airflow.params" in needed  # the scan reads the DAG files
    assert "airflow.providers.git.bundles.git" in needed  # every task's start imports its bundle's class
    # A fresh interpreter, as the Celery worker: import what celery_config preloads, list what is then loaded.
    code = (
        "import importlib, json, sys\n"
        "from hss_airflow.celery_config import CELERY_CONFIG\n"
        "from hss_airflow.preload import PRELOADED_MODULES, import_preloaded\n"
        "assert CELERY_CONFIG['imports'] == PRELOADED_MODULES\n"
        "import_preloaded()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    # no PYTHONPATH: the package is importable because it is installed
    loaded = set(fresh_python(code, env={"PATH": "/usr/bin:/bin"}))
    missing = [m for m in needed if m not in loaded]
    assert missing == [], f"add to hss_airflow.preload.PRELOADED_MODULES: {missing}"


def test_after_the_preload_parsing_any_dag_file_imports_nothing_new(fresh_python: Callable[..., Any]) -> None:
    # As a task process forked from the Celery pool, each DAG file parsed in its own fork: whatever the parse
    # imports (Airflow imports its timetables and croniter on the first DAG a process builds), every task would
    # import again.
    code = (
        "import json, os, runpy, sys\n"
        "from hss_airflow.preload import import_preloaded\n"
        "import_preloaded()\n"
        "new = {}\n"
        f"for path in {sorted(str(f) for f in DAGS_FOLDER.glob('*.py'))!r}:\n"
        "    read, write = os.pipe()\n"
        "    if os.fork() == 0:\n"
        "        before = set(sys.modules)\n"
        "        runpy.run_path(path, run_name='parsed')\n"
        "        os.write(write, json.dumps(sorted(set(sys.modules) - before)).encode())\n"
        "        os._exit(0)\n"
        "    os.close(write)\n"
        "    with os.fdopen(read) as answer:\n"
        "        new[path.rsplit('/', 1)[-1]] = json.loads(answer.read() or 'null')\n"
        "    os.wait()\n"
        "print(json.dumps(new))\n"
    )
    imported = fresh_python(code)
    assert len(imported) == len(list(DAGS_FOLDER.glob("*.py"))) >= 7
    assert {name: modules for name, modules in imported.items() if modules != []} == {}


def in_a_fork_after_the_preload(imports: str, child: str) -> str:
    """Code for `fresh_python`: the workers' preload and `imports`, then `child` (lines indented by 4 that set
    `found`) in a forked process, as a task process starts; the parent prints the child's `found` as JSON."""
    return (
        "import json, os, socket, sys\n"
        "from hss_airflow.preload import import_preloaded\n"
        "import_preloaded()\n"
        f"{imports}"
        "read, write = os.pipe()\n"
        "if os.fork() == 0:\n"
        f"{child}"
        "    os.write(write, json.dumps(found).encode())\n"
        "    os._exit(0)\n"
        "os.close(write)\n"
        "with os.fdopen(read) as answer:\n"
        "    print(answer.read())\n"
        "os.wait()\n"
    )


def test_a_task_forked_after_the_preload_finds_the_plugins_loaded(
    fresh_python: Callable[..., Any], task_process_env: dict[str, str]
) -> None:
    # The task runner's first steps (hss_airflow.task_warm_up): its listener manager loads the plugins (a scan of
    # the plugins folder), then it integrates their macros. Each is cached per process, so a task forked after the
    # preload scans nothing and imports nothing for them.
    code = in_a_fork_after_the_preload(
        "from airflow.sdk.listener import get_listener_manager\n"
        "from airflow.sdk.plugins_manager import _get_plugins, integrate_macros_plugins\n",
        "    before, scans = set(sys.modules), _get_plugins.cache_info().misses\n"
        "    get_listener_manager()\n"
        "    integrate_macros_plugins()\n"
        "    found = {'scans': _get_plugins.cache_info().misses - scans, 'new': sorted(set(sys.modules) - before),\n"
        "             'plugins': [p.name for p in _get_plugins()[0]]}\n",
    )
    found = fresh_python(code, env=task_process_env)
    assert "hss_ui" in found["plugins"]  # the repo's plugin (and the providers') loaded before the fork
    assert found["scans"] == 0 and found["new"] == []


def test_a_task_forked_after_the_preload_sets_up_its_channel_without_imports_or_adapter_builds(
    fresh_python: Callable[..., Any], task_process_env: dict[str, str]
) -> None:
    # A task process's first steps, before it asks for its start-up details: logging over its channel to the
    # supervisor, then the decoder of the supervisor's answers (hss_airflow.task_warm_up shares its adapter).
    code = in_a_fork_after_the_preload(
        "from airflow.sdk.execution_time import task_runner\n"
        "from airflow.sdk.execution_time.supervisor import _configure_logs_over_json_channel\n",
        "    before = set(sys.modules)\n"
        "    _configure_logs_over_json_channel(os.pipe()[1])\n"
        "    decoders = [task_runner.CommsDecoder[task_runner.ToTask, task_runner.ToSupervisor](\n"
        "        log=None, socket=socket.socketpair()[0]) for _ in range(2)]\n"
        "    adapters = {id(a) for d in decoders for a in (d.body_decoder, d.err_decoder)}\n"
        "    found = {'new': sorted(set(sys.modules) - before), 'adapters': len(adapters)}\n",
    )
    assert fresh_python(code, env=task_process_env) == {"new": [], "adapters": 1}


def test_a_task_forked_after_the_preload_renders_and_checks_its_params_without_rebuilding(
    fresh_python: Callable[..., Any], task_process_env: dict[str, str]
) -> None:
    # A task's context validates its DAG's params (each schema checked against JSON Schema's metaschema), then it
    # renders its templates (Jinja's lexer) and sends its rendered fields (one pydantic adapter per field): all built
    # before the fork by hss_airflow.task_warm_up and dag_warm_up, so a task builds none of them again.
    code = in_a_fork_after_the_preload(
        "import pydantic\n"
        "from airflow.sdk import DAG\n"
        "from airflow.sdk.definitions.param import process_params\n"
        "from airflow.sdk.execution_time.task_runner import _serialize_rendered_fields\n"
        "from jinja2 import lexer\n"
        "from jsonschema.validators import validator_for\n"
        "from hss_airflow.operators import IntelligenceOperator\n"
        "from hss_airflow.params import song_params\n"
        "with DAG('t', schedule=None, params=song_params(), auto_register=False) as dag:\n"
        "    op = IntelligenceOperator(task_id='i', song_id='{{ params.song_id }}', audio={}, content={},\n"
        "                              prediction={'p': 0.5})\n"
        "validator, built = validator_for({}), []\n"
        "check, build = validator.check_schema, pydantic.TypeAdapter.__init__\n"
        "validator.check_schema = lambda schema, *a: built.append('schema check') or check(schema, *a)\n"
        "pydantic.TypeAdapter.__init__ = lambda self, *a, **k: built.append('adapter') or build(self, *a, **k)\n"
        "lexers = len(lexer._lexer_cache)\n",
        "    conf = {'song_id': 's1', 'song_path': 'songs/a.wav'}\n"
        "    params = process_params(dag, op, conf, suppress_exception=False)\n"
        "    rendered = dag.get_template_env().from_string(op.song_id).render(params=params)\n"
        "    fields = _serialize_rendered_fields(op)\n"
        "    found = {'built': built, 'new lexers': len(lexer._lexer_cache) - lexers, 'rendered': rendered,\n"
        "             'fields': sorted(fields), 'lyrics': params['lyrics']}\n",
    )
    found = fresh_python(code, env=task_process_env)
    assert found["rendered"] == "s1" and found["lyrics"] is None  # the params were validated and filled in
    assert found["fields"] == ["audio", "content", "prediction", "song_id"]
    assert found["built"] == [] and found["new lexers"] == 0


def test_the_celery_config_keeps_airflows_defaults() -> None:
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    from hss_airflow.celery_config import CELERY_CONFIG, RESULT_BACKEND_RETRIES, pooled

    ours = {"imports", *RESULT_BACKEND_RETRIES}
    airflows = {k: v for k, v in CELERY_CONFIG.items() if k not in ours}
    # Airflow's result backend is kept: the same database, through the pooled backend class
    assert airflows == {**DEFAULT_CELERY_CONFIG, "result_backend": pooled(DEFAULT_CELERY_CONFIG["result_backend"])}
    assert ours.isdisjoint(DEFAULT_CELERY_CONFIG)  # nothing else of Airflow's is replaced


def test_make_demos_executor_imports_the_preload_before_it_forks_its_workers(
    fresh_python: Callable[..., Any],
) -> None:
    # A fresh interpreter, as the scheduler: start the executor with the fork replaced by a recorder.
    code = (
        "import json, sys\n"
        "from airflow.executors.local_executor import LocalExecutor\n"
        "from hss_airflow.local_executor import PreloadingLocalExecutor\n"
        "from hss_airflow.preload import PRELOADED_MODULES\n"
        "assert issubclass(PreloadingLocalExecutor, LocalExecutor)\n"
        "before = [m for m in PRELOADED_MODULES if m in sys.modules]\n"
        "seen = []\n"
        "executor = PreloadingLocalExecutor(parallelism=2)\n"
        "executor.is_mp_using_fork = True\n"
        "executor._spawn_workers_with_gc_freeze = lambda n: seen.append((n, sorted(sys.modules)))\n"
        "executor.start()\n"
        "print(json.dumps({'before': before, 'spawned': seen[0][0], 'loaded': seen[0][1]}))\n"
    )
    found = fresh_python(code)
    assert found["before"] == []  # importing the executor's class (the api-server does) preloads nothing
    assert found["spawned"] == 2  # LocalExecutor's own start: every worker forked at once
    from hss_airflow.preload import PRELOADED_MODULES

    missing = [m for m in PRELOADED_MODULES if m not in found["loaded"]]
    assert missing == [], f"the workers forked before these were imported: {missing}"


def test_make_demos_executor_is_what_airflow_loads_from_the_stacks_setting(tmp_path: Path) -> None:
    from stack.airflow_stack import AirflowSettings, airflow_env
    from stack.profiles import get_profile

    env = airflow_env(AirflowSettings(home=tmp_path, api_port=18080, executor=get_profile("embedded").executor))
    code = (
        "from airflow.executors.executor_loader import ExecutorLoader\n"
        "from airflow.executors.local_executor import LocalExecutor\n"
        "executor = ExecutorLoader.get_default_executor()\n"
        "assert isinstance(executor, LocalExecutor), type(executor)\n"
        "print(type(executor).__module__, type(executor).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].split() == ["hss_airflow.local_executor", "PreloadingLocalExecutor"]
