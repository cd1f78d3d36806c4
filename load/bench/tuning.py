"""The "Settings that mattered" part of docs/PERFORMANCE.md: what was tuned, where it is set, and what each
change measured when it was made. Unlike the rest of the report these figures are not re-measured by every
run (each needs a before and an after on the same machine); every row says when it was measured, and the
sections of the report show the state of the code as it is now.
"""

from __future__ import annotations

TUNING_MD = """\
## Settings that mattered

What was tuned, where it is set, and the before → after each change measured on this machine (2 shared
cores; one session each, 2026-11-24). The figures in the sections below are this run's, with all of it in place.

| change | where | measured before → after |
|---|---|---|
| Airflow's plugin scan finds none of our libraries: it imports every `.py` of `airflow/plugins/` in every \
task process (pandas and aiohttp with them, and a second copy of each module under its bare name), so the \
code behind the DAGs is the installed package `hss_airflow` and the folder holds only real `AirflowPlugin`s \
| `airflow/src/hss_airflow/` (a test fails on a non-plugin file in `airflow/plugins/`) | \
with the next three rows, `make bench` before (08:44 UTC, `--only batch`) → after (09:17 UTC): \
batch_analysis 20 songs of 180 s 15.8 → 18.6 songs/min (71 → 82 % of the Essentia limit), Celery worker \
12.3 → 2.5 CPU-s per run, all of Airflow 1.52 → 0.85 CPU-s per song; comprehensive_analysis 4.8 s \
(07:50 UTC run) → 3.1 s; a task's start-up (`Pre Execute` → `DAG bundles loaded` in its log) 0.42 s \
(07:35 UTC run) → 0.01 s. py-spy had 68 % of the worker's samples in this scan |
| The Celery worker imports the DAGs' modules once before its pool forks (Celery `imports`; the provider \
does the same for its own modules), so a task process does not import them again | \
`hss_airflow.celery_config`, `AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS` (local stacks, compose) | \
(above; a test checks every module the DAG files import is preloaded) |
| The Celery worker also preloads the DAG bundle's class (`GitDagBundle`, and GitPython with it): since \
the DAGs come from the Git bundle, every task's start builds Airflow's bundle manager, which imported it \
again | `hss_airflow.celery_config` (a test checks the stacks' bundle classes are preloaded) | \
py-spy on the worker (200 Hz, `--subprocesses`), 8 comprehensive_analysis runs and an 8-song \
batch_analysis, 2026-12-05: the GitPython import 24 % of the worker's samples (5.0 of 21.2 CPU-s) → 0; \
task processes 11.6 → 8.5 CPU-s, a task's start-up (`startup` in the task runner) 7.2 → 3.3 CPU-s for \
the ≈ 50 tasks; `make bench --only analysis,batch`: worker 3.8-4.1 → 3.0-3.3 CPU-s per 20-song run \
(all of Airflow 0.95 CPU-s per song before and after: the scheduler's 7 s dominate) |
| batch_analysis maps over chunks of songs (`chunk_size`, default 4; two requests in flight per chunk), \
so a task's fixed cost is paid per chunk; each song's analysis goes to the data root and XCom carries its \
path, sha256 and highlights (≈ 0.3 KB per song instead of ≈ 43 KB) | `airflow/dags/batch_analysis.py`, \
`hss_airflow.operators.audio_chunk` | `python -m load.bench --only batch`, 2026-12-05 06:33 UTC, one run \
each, load average 1.68 at the start: chunk_size 1 / 4 / 10: Airflow 0.90 / 0.69 / 0.69 CPU-s per song \
(Celery worker 3.2 / 1.2 / 1.0 CPU-s and api-server 2.0 / 1.1 / 1.0 per 20-song run), 75 / 79 / 77 % of \
the Essentia limit. Beyond 4 the per-task cost no longer shows: what is left is the scheduler and the \
dag-processor, which cost by the second, not by the task |
| `hss_airflow.datasets` imports pandas where it is used, not at module level | the training DAG files' imports | \
each training DAG file's parse (every 30 s) 0.65 → 0.25 CPU-s |
| The scheduler is woken by PostgreSQL when a task's try ends, a run is created, queued again or ends, or a \
deferred task resumes (`python -m hss_airflow.scheduler`: Airflow's `scheduler` command, its idle sleep a wait \
on `LISTEN hss_scheduler_wake`, two triggers notifying), so its idle sleep goes back to Airflow's 1 s. Before \
it, the idle scheduler polled every 0.25 s (a 2-task DAG 3.4 s at 1 s; 0.1 → 0.25 s: scheduler 13.5-17.2 → \
9.1-9.6 CPU-s per 20-song run, comprehensive_analysis +0.4 s), and each hand-off waited out part of that \
sleep. `make demo` (SQLite: nothing to wake it) still polls every 0.25 s | `hss_airflow/scheduler.py`; local \
stacks (`stack/airflow_stack.py`), `docker-compose.yml`, the chart values (tests: each waking state against a \
throwaway PostgreSQL, the three stacks start it) | `python -m load.bench --compare ae8d1e2 --only \
analysis,batch --rounds 1`, 2026-12-06 13:24 UTC, AMD EPYC, load average 1.1 / 2.9 at the two runs' starts: \
comprehensive_analysis trigger→success 2.283 → 1.557 s (0.68), in-task overhead 0.625 → 0.509 s; Airflow CPU \
per batch song 0.97 / 0.69 / 0.69 → 0.62 / 0.36 / 0.37 CPU-s at chunk_size 1 / 4 / 10, the scheduler 6.5 → \
2.1 and PostgreSQL 2.7 → 1.1 CPU-s per 20-song run (chunk_size 4); batch_analysis 89 → 91 % of the Essentia \
limit. Again with `--rounds 2` (14:03 UTC, load average 0.7-2.6 at the runs' starts), medians of 2 interleaved \
runs each: trigger→success 2.552 → 1.691 s (0.66), Airflow-added time ≈ 1.80 → 1.00 s (the scheduler's \
hand-offs 0.48 → 0.15 s, trigger → run running 0.19 → 0.04 s, last task → run success 0.17 → 0.03 s), in-task \
overhead 0.713 → 0.587 s; Airflow CPU per batch song 1.01 / 0.68 / 0.67 → 0.73 / 0.45 / 0.39 CPU-s. One \
hand-off in 40 still waited out the whole 1 s sleep (run 2 of the first comparison). A first version that kept \
the 0.25 s sleep (same command, 13:08 UTC): trigger→success 2.363 → 2.056 s, the batch's CPU unchanged |
| DAG files re-parsed when they change (a deploy or rollback rewrites them), else every 300 s (Airflow's \
default 30 s; we had 10 s, then 30 s), new files found within 5 s | local stacks, `docker-compose.yml` | \
10 → 30 s: dag-processor 4.4-4.8 → 1.9-2.3 CPU-s per 20-song run; 30 → 300 s: `python -m load.bench \
--compare HEAD --only batch --rounds 1` (2026-12-05 06:46 UTC, load average 2.0 / 2.3 at the two runs' \
starts): Airflow CPU per batch song 0.89 / 0.72 / 0.65 → 0.74 / 0.57 / 0.48 at chunk_size 1 / 4 / 10 |
| workflow-content and workflow-intelligence answer on the event loop (`async def`, no thread pool) | \
`services/content`, `services/intelligence` | p95 at 50 users / 320 req/s: 52 → 32 ms and 52 → 24 ms |
| `PYTHONDONTWRITEBYTECODE` unset for Airflow's processes (CI images set it) | local stacks | \
every DAG parse and task compiled the DAG files, hss_airflow and contracts again (≈ 5 % of the dag-processor's \
samples) |
| The same number of task slots on docker as on the local stack (4 per worker: the test overlay had 2) | \
`docker-compose.test.yml` | docker comprehensive_analysis 6.0 → 3.9 s (local 3.1 s in the same bench run): \
Airflow's task supervisor keeps its Celery slot up to ~5 s after the task ends, so with 2 slots the next \
task waited for one |
| The api-server counts as ready once its execution API answers (`GET /execution/health`), and the stack asks \
for it while what runs tasks starts: the execution API builds its versioned routes (Cadwyn) on its first \
request, not at start, and held the api-server's event loop for 4-13 s in the first task's start call (`PATCH \
…/run`) on every stack and after every api-server restart (py-spy on a fresh api-server: all of its samples in \
`Cadwyn._cadwyn_initialize` for that request) | `stack/airflow_stack.py` (`execution_api_built`, the \
api-server's probe, which restarts wait on too), `docker/healthcheck.py` (compose's api-server healthcheck, \
which the workers wait on); tests: `stack/tests/test_airflow_start.py` | one local stack, `make e2e \
E2E_BACKEND=local PYTEST_ARGS='-k seed_trigger'`, 2026-12-07, one run each on an AMD EPYC machine: the first \
task's `PATCH …/run` 4.48 s → 0.06 s (the first `/execution/health`, now in the start, 10.0 s beside the \
workers' start), stack ready 47.0 → 45.2 s, the seed test's run 6.56 → 4.39 s; in the local pass before it the \
first `…/run` took 12.3-13.3 s on each of the three stacks. `make demo`: the training's first task success 5.8 \
→ 1.4 s after the trigger, stack ready 30.7 → 29.8 s (its whole run is within its noise: 69 and 72 s) |
| A new SQLite metadata DB (`make demo`, the unit tests' `airflow_db`) is a copy of the one the first init \
made for this Airflow install and these pools (`airflow db migrate` and `airflow pools import` on an empty \
SQLite file: 8.1 s and 7.7 CPU-s, the same DB every time), kept in the user's cache, keyed by the apache-airflow \
distributions, the pools file and the settings the migration depends on | `stack/db_template.py`, \
`stack/local_stack.py`, `airflow/tests/conftest.py`; tests: `stack/tests/test_db_template.py` (a foreign or \
group-writable template is refused) | `python -m stack.demo --any-ports`, 2026-12-07, AMD EPYC, two interleaved \
pairs (fresh state folder, demo data already made; cold = empty template folder): stack ready 19.3 / 19.2 → \
13.7 / 15.1 s, the demo's CPU 60 / 63 → 52 / 59 CPU-s; the whole demo did not move measurably (43.3 / 50.0 → \
44.1 / 49.0 s): its stop varies by more (the triggerer's stop took 1.3 s in one run and 10.9 s in another: \
Airflow's trigger runner waits out its 10 s escalation delay when it misses its child's exit) |
| A local full stack's new PostgreSQL database (`make up` without Docker, `make e2e`, the bench's stack) is \
restored from a `pg_dump` of the one the first init made (the same key, plus the client tools' version), in one \
transaction that fails on any table already there; before, `airflow db migrate` and `airflow pools import` took \
8.6-9.2 s there, longer than the services' start beside them | `stack/db_template.py`, `stack/local_stack.py`; \
tests: `stack/tests/test_db_template.py` (against a throwaway PostgreSQL: restored rows, a database with tables \
left as it was, a template others could write refused, the password never on a command line) | `make up \
E2E_BACKEND=local`, 2026-12-07, AMD EPYC, three interleaved pairs (cold = an empty template folder): `make up` \
28.8 / 27.5 / 29.9 → 24.5 / 25.0 / 25.3 s, stack ready 25.5 / 24.6 / 26.9 → 21.5 / 22.2 / 22.2 s, the machine's CPU \
during it 42.6 / 40.9 / 44.6 → 36.3 / 36.1 / 37.1 CPU-s. The local e2e pass did not move (342 s cold, 339 s warm, \
one run each): its three stacks start together, so on a cold cache all three migrate, and their setups are \
dominated by the rest of the start |
| workflow-ml-prediction imports the scikit-learn modules a trained model's pickle needs when it starts \
(`ESTIMATOR_MODULES`), not at the first prediction of a model | `services/common/model_artifacts.py`, \
`services/ml_prediction/app.py` (a test fails when a prediction still imports one) | `python -m stack.demo \
--any-ports`, 2026-12-05, one run each: ml-prediction 1.15 → 0.14 s on the first prediction after the \
training, comprehensive_analysis trigger→success 5.4 → 4.3 s; unpickling the model is 17 ms of it, the imports \
were 0.97 s |
| `make demo`'s LocalExecutor imports the DAGs' modules before it forks its workers, as the Celery worker \
does (`hss_airflow.local_executor.PreloadingLocalExecutor`, Airflow's LocalExecutor by its class path): each \
demo task imported them again, ≈ 0.4 s each (py-spy on the demo's scheduler, `--subprocesses`, 5 runs: the DAG \
file's imports were 69 % of the task side's samples: aiohttp and its SSL context, the hooks, the contracts' \
models) | `stack/airflow_stack.py` (`LOCAL_EXECUTOR`), `hss_airflow.preload` (the one list both use; a test \
fails when the executor forks before importing it) | `python -m load.bench --only demo`, 2026-12-06, minutes \
apart on an Intel Xeon machine, median of 5 runs each: make demo's trigger→success 3.742 → 2.596 s, its \
in-task overhead 1.791 → 0.536 s |
| The processes that fork tasks (the Celery worker, `make demo`'s LocalExecutor, the dag-processor) build and \
drop one DAG after their preload (`hss_airflow.dag_warm_up`, the preload's last module): Airflow imports its \
timetables (croniter), the asset models and, for a mapped operator, EmptyOperator on the first DAG a process \
builds, and every task process, forked after the preload, did that again when it parsed its DAG file \
(py-spy on the worker, 8 comprehensive_analysis runs: the DAG file's parse was 42 % of the task processes' \
samples) | `hss_airflow/preload.py`, `hss_airflow/dag_warm_up.py` (a test parses every DAG file in its own fork \
after the preload and fails on any module the parse imports) | a DAG file's parse in a forked child after the \
Celery worker's preload, median of 7, twice: comprehensive_analysis 19.5 / 18.5 → 8.1 / 8.4 ms, daily_model_training \
23.4 / 23.5 → 13.2 / 13.1 ms; `python -m load.bench --compare ac47236 --only analysis,batch --rounds 2` \
(2026-12-06 17:19 UTC, AMD EPYC, load average 1.1-2.5 at the runs' starts), medians of 2 interleaved runs: \
comprehensive_analysis trigger→success 1.424 → 1.342 s (0.94), in-task overhead 0.458 → 0.428 s (0.93); the \
batch's Airflow CPU per song 0.519 / 0.331 / 0.289 → 0.512 / 0.346 / 0.310 CPU-s at chunk_size 1 / 4 / 10 \
(within two runs' noise: a chunk parses once) |
| The warm-up DAG is built like ours (our four service operators wired by their XComs, a `@task` after \
them, our default_args, deadline and params), and the processes that fork tasks also take the task runner's \
first steps (`hss_airflow.task_warm_up`: Airflow's plugin load for its listener manager, the plugins' macros, \
three modules a task's start imported). Python caches each ABC isinstance answer per class, so a DAG of Airflow's \
own operators left ours to every task; and every task scanned the plugins folder | `hss_airflow/dag_warm_up.py`, \
`hss_airflow/task_warm_up.py`, `hss_airflow/preload.py` (a test forks after the preload and fails when the \
listener manager scans the plugins again) | 2026-12-07, AMD EPYC: comprehensive_analysis' DAG file parsed in a \
forked child after the worker's preload, median of 9: 8.7 → 6.5 ms; the plugin load in a task's start \
(timestamps in Airflow's task runner, 50 tasks) 3.9 ms → 0. With the next row, `python -m load.bench --compare \
0b99cda --only analysis --rounds 3` (11:18 UTC, load average 1.1-2.2 at the runs' starts), medians of 3 \
interleaved runs: in-task overhead 0.430 → 0.408 s (0.95, the ranges apart), trigger→success 1.525 → 1.504 s |
| A service call looks its Airflow connection up once, not at every request: HttpHook read it again in every \
`run` (its base URL) beside the API-key header, and in a task each look-up is a round trip to the supervisor \
(masking the password) | `WorkflowServiceHook.get_connection` (a test counts one look-up for three requests of \
one call, and the next call sending a changed key) | 2 → 1 look-ups per call |
| The local celery stacks and the docker test overlay let the scheduler hand 8 tasks to Celery (`[core] \
parallelism`), twice the worker's 4 slots. A task's supervisor keeps its slot ~1 s after the task ended and no \
state change wakes the scheduler when it lets go: at 4 the scheduler logged "Executor parallelism limit reached. 0 \
open slots" and the next task waited out its 1 s idle sleep. The worker's concurrency still bounds the running \
tasks; `make demo` keeps 4 (its LocalExecutor forks that many workers) | `stack/profiles.py` (`CeleryProfile.\
parallelism`), `docker-compose.test.yml` (a test holds them equal) | a local celery stack, 15 comprehensive_analysis \
runs back to back, 2026-12-07: 5 of 15 runs waited ≈ 1 s in a hand-off (trigger→success 1.86-2.50 s against \
1.29-1.43 s), 26 "0 open slots" in the scheduler's log → none of 15 and no such line (1.28-1.53 s) |
| Each task's supervisor looks at its task process every second (`[workers] min_heartbeat_interval` 1, \
Airflow's default 5 s). It holds the task's Celery slot and one of the scheduler's `parallelism` slots until \
it has seen the process exit; when the process's last socket closes a moment before it can be reaped, the \
supervisor waits on no socket at all until its next look | local stacks (`stack/airflow_stack.py`), both \
compose files, the chart values (a test holds them together) | the task's end → its supervisor's \
`Workload finished`: `make e2e E2E_BACKEND=local E2E_STACKS=3`, 2026-12-05, one run each: 169 of 278 tasks \
held their slot 5.0 s (≈ 700 slot-seconds in all) → 174 of 290 held it 1.0-1.15 s and none longer (186 \
slot-seconds); the pass 593 → 558 s (its three stacks 578 / 528 / 567 → 545 / 508 / 521 s). `load.bench --only \
analysis`: 10 of 32 tasks held it 5.0 s → 7 of 32 held it 1.0 s (the bench now reports it). The price, a \
heartbeat per running task every second: api-server 0.96 → 1.33 CPU-s per 20-song batch_analysis, Airflow \
0.50 → 0.53 CPU-s per song |
| Each task's supervisor is woken by its task process's exit: a pidfd (Linux) in its selector, so it no longer \
sleeps to its next look, and the heartbeat interval is back at Airflow's 5 s (the row above had set 1 s) \
| `hss_airflow.task_exit`, installed by the workers' preload (`hss_airflow.task_warm_up`); the interval in the \
local stacks, both compose files and the chart values | the 1 s interval's price, seen on a slower machine: one \
`make bench` (2026-12-07 13:27 UTC) logged 908 heartbeats, 25.7 s of api-server time, its largest item \
(Airflow 1.19 CPU-s per batch song). A local celery stack, comprehensive_analysis, 12 runs each, 1 s interval \
→ woken by the exit, 2026-12-07: the slot held after a task's end, longest of 59-60 tasks 1.10 → 0.087 s \
(median 0.064 → 0.050 s); heartbeats one per task (the supervisor's first, at the start) instead of one per \
running second; trigger→success median 3.14 → 2.93 s, in-task overhead 1.09 → 1.03 s (that machine's noise). \
The next full `make bench` (14:58 UTC): 355 heartbeats, 10.1 s of api-server time; Airflow CPU per batch song \
1.19 → 1.30 at chunk_size 4 (Essentia alone 16 % slower between the two runs: no change that run can show) |
| A task's first heartbeat comes an interval (5 s) after its start, like every later one: Airflow's supervisor \
sent one at its first look, right after `PATCH …/run` had written the task's `last_heartbeat_at`, beside the task \
process's start-up on the same 2 cores and the same api-server. A task shorter than 5 s sends none | \
`hss_airflow.task_exit` (a test: no heartbeat at the first look, one an interval later) | a local celery stack, \
comprehensive_analysis, 10 runs per side, interleaved A/B/A/B (2026-12-07 17:13-17:20 UTC): the three light tasks \
of the critical path 519 → 414 ms, then 431 → 383 ms (medians of their summed durations); 57 → 0 heartbeats |
| A task process sets up its channel to its supervisor with what the preload built: its decoder of the \
supervisor's answers built two pydantic `TypeAdapter`s of the same message union in every task, and its \
logging set-up imported two of Airflow's logging modules. The preload builds the adapter once (the decoder \
takes it: an adapter holds no state of its own) and imports the modules | `hss_airflow.task_warm_up` (a test \
forks after the preload: no import, one adapter for two decoders) | a child forked after the Celery worker's \
preload, logging set-up and decoder, median of 9, two interleaved pairs (2026-12-07 20:00 UTC): 11.7 / 12.0 → \
8.3 / 7.1 ms per task process; the decoder alone 4.0-4.9 → 0.8-1.5 ms |
| A task builds what its context, its templates and its rendered fields need from what the preload built: \
Airflow validates the DAG's params at each task's start with `jsonschema.validate`, which first checks each \
schema against JSON Schema's metaschema (the costliest part, the same schemas in every task); Jinja built its \
lexer (≈ 30 regexes) for the task's first template; and the rendered fields built one pydantic \
`TypeAdapter(JsonValue)` per templated field. The preload checks our DAGs' param schemas (`jsonschema.validate` \
then checks a schema once per process and content; a bad one fails every time), compiles one template and \
builds the adapter | `hss_airflow.task_warm_up`, `hss_airflow.dag_warm_up` (a test forks after the preload: no \
schema check, no adapter, no lexer built; another keeps jsonschema's answers) | a child forked after the Celery \
worker's preload, median of 15, two runs each (2026-12-07 21:55 UTC): the rendered fields of an \
IntelligenceOperator 5.0 / 6.2 → 1.3 / 1.2 ms, comprehensive_analysis' params 3.6 / 4.2 → 1.1 / 1.0 ms, the \
first template 5.0 / 5.8 → 2.2 / 2.2 ms. On a local celery stack, 10 comprehensive_analysis runs per side, two \
interleaved pairs (22:20 UTC), the light tasks' whole task process (`getrusage`, timed there for the measurement \
only): 45.2 / 48.5 → 40.9 / 37.7 ms of CPU and 5,139 / 5,149 → 4,730 / 4,713 page faults per task; their wall \
time moved within the host's noise (five earlier pairs read it 16-30 ms slower, two later ones 9-26 ms faster) |
| A task takes its DAG file's parse from the process that forked it: Airflow's task runner parsed the task's \
DAG file in every task process (`dag_file_parse_ms` 16-18 ms median in the task logs on a slower machine). The \
Celery pool process (and `make demo`'s LocalExecutor worker) parses a workload's DAG file before it hands the \
workload to Airflow's supervisor (`BaseExecutor.run_workload`), once per file version and content, and the task's \
own `BundleDagBag` of that file takes it. Kept only when the file imported without error and imported nothing \
but itself; checked again in the task by the file's sha256; one parse per bundle file; the bundle joins \
`sys.path` in the task, as Airflow's does. The first task of a file version in each pool process pays the parse \
before its fork instead of after its start | `hss_airflow.preparsed_dags`, installed by the preload (tests: \
Airflow's own parse in a child forked after it takes the kept DAG and imports nothing; a file rewritten at once \
with the same size, a file importing a module of its bundle, a file failing to import: each parsed by its task \
as before) | Airflow's `task_runner.parse` in a child forked after the preload, median of 10, two runs each \
(2026-12-08 00:20 UTC, AMD EPYC, a machine ≈ 2x slower than the day before): 23.5 / 25.9 → 6.2 / 6.6 ms. A local \
celery stack, 10 comprehensive_analysis runs per side, two interleaved pairs (00:47-00:53 UTC): \
`dag_file_parse_ms` 17 / 16 → 0 / 0 ms in all 50 tasks' logs; the in-task overhead without the api-server's \
time on it 0.378 / 0.367 → 0.347 / 0.300 s; the in-task overhead 0.807 / 0.782 → 0.854 / 0.689 s (the first \
pair's second stack met a busier host: its api-server time 0.431 → 0.509 s). `load.bench --compare 64f5845 \
--only analysis --rounds 2` (00:41 UTC, load average 1.7 → 2.5 over the run) read it within the noise: in-task \
overhead 0.721 → 0.794 s with the api-server's time 0.382 → 0.446 s and its median request 16.1 → 19.6 ms |
| A task that returns a dict pushes it as one XCom (`multiple_outputs=False`): `@task` infers multiple \
outputs from a `-> dict` annotation and then writes every key as one more XCom through the execution API (5 \
extra writes on comprehensive_analysis' last task, one per config key on validate_training_config). Only \
merge_features keeps them: smart_ensemble_training pulls two of its keys | the DAG files, \
`hss_airflow.training_dag` (a policy test fails on a task that pushes keys nobody pulls) | with the next two \
rows, `load.bench --compare ff59eaa --only analysis --rounds 3` (2026-12-06 01:18 UTC, another 2-core \
machine, about 40 % slower than the one above: Essentia 6.5-7.9 s per 180 s song), medians of 3 interleaved \
runs each: comprehensive_analysis trigger→success 2.925 → 2.462 s (0.84), in-task overhead 0.798 → 0.609 s \
(0.76) |
| The Celery result backend (Airflow's PostgreSQL, unchanged) keeps one pooled engine per process \
(`PooledDatabaseBackend`): Celery pools only in a process billiard forked, so the scheduler, which reads \
the task states at every loop while tasks run, built a new SQLAlchemy engine and opened a new PostgreSQL \
connection each time. A forked child drops the pool it inherited; `pool_pre_ping` survives a database \
restart | `hss_airflow.celery_config` (tests: one engine per process, the fork, the pre-ping) | \
`load.bench --compare` (02:05 UTC; base ff59eaa with the bench's accounting fix below, one round each, the \
rows around it included): Airflow CPU per batch song 1.37 / 0.88 / 0.82 → 0.77 / 0.69 / 0.70 CPU-s at \
chunk_size 1 / 4 / 10. The machine ran faster during the second run (Essentia limit 18.3 → 23.1 songs/min), \
so per CPU-s of Essentia: 0.20 / 0.15 / 0.14 → 0.14 / 0.12 / 0.12; at chunk_size 4, PostgreSQL 4.3 → 2.7 and \
the scheduler 8.3 → 6.7 CPU-s per 20-song run |
| `hss_airflow.settings()` validates the HSS_* environment once per process and distinct value, not at \
every call (the DAG file's parse, the worker's hostname, the data root: several per task) | \
`hss_airflow/settings.py` | py-spy on the worker, 5 comprehensive_analysis runs (2026-12-06): these \
validations were 34 of the task processes' 479 samples (7 %), ≈ 1 ms per call; now one per task |
| Container healthchecks without an `airflow` import (`docker/healthcheck.py`) | both images | \
`airflow jobs check` cost 2.3 CPU-s per probe: every 10 s for dag-processor and triggerer, 0.46 core |
| The dag-processor starts as `python -m hss_airflow.dag_processor`: Airflow's own command with a manager that \
drops a version-pinned callback's file stat once its callback ran (Airflow 3.3 then parsed that DAG file at \
every loop until restarted: apache/airflow#73432, docs/TROUBLESHOOTING.md), and the DAGs' modules imported \
before it forks a parse (`hss_airflow.preload`) | local stacks, `docker-compose.yml`, the chart values (a test \
holds the three together and fails once Airflow's own manager is fixed) | BSD process accounting over `make e2e \
E2E_BACKEND=local E2E_STACKS=3`, 2026-12-06, one run each, the same machine speed (Essentia 284 / 280 CPU-s): \
the three dag-processors 211 → 41 CPU-s (296 and 180 extra parses on the two fault stacks after their \
heartbeat timeouts → none; a parse 0.35 → 0.09-0.11 CPU-s); the pass 716 → 620 s with the e2e harness's \
change of the same day (docs/TESTING.md) |

Measured with a fix (2026-12-06): PostgreSQL's backends leave the postmaster's process group (setsid), and
the bench charged CPU by process group, so a backend counted only once it had exited. Rows measured before it
leave out the CPU of PostgreSQL's long-lived connections from "Airflow CPU per song" (the short-lived ones the
result backend opened at every scheduler loop were counted); the bench and the stack's memory figure now
charge a process to the component it descends from (`stack.process_tree`).

Did not matter: the `hss_audio` pool at 2 vs 4 slots (batch_analysis 1.04-1.08x, within noise: the service
queues what the second pair of slots sends). A second api-server serving only the execution API (`airflow
api-server --apps execution`, without the core API's middlewares): 8.1 against 8.2 ms of CPU per `GET …/xcoms/…`
(400 sequential requests each on an idle stack, 2026-12-07). Two api-server workers (`[api] workers` 2, as
Airflow suggests one per core; the stacks keep Airflow's default 1): a local celery stack, 10 comprehensive_analysis
runs per side, interleaved 1/2/1/2 (2026-12-07 21:48 UTC), in-task overhead 0.444 / 0.424 → 0.443 / 0.436 s,
trigger→success 1.430 / 1.372 → 1.399 / 1.405 s: the path's requests come one at a time.
Airflow's connection pre-ping off (`AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_PRE_PING=False`: py-spy on the \
api-server put its `SELECT 1` at each connection checkout at 8-23 % of the execution-API handlers' samples): a \
local celery stack, 10 comprehensive_analysis runs per side, two interleaved pairs (2026-12-08 01:00 UTC), the \
api-server's time on the path 0.602 / 0.483 → 0.419 / 0.443 s, its median XCom read 18.0 / 15.1 → 13.3 / 14.4 ms \
(the first pair's first stack met a busy host). Not kept: ≈ 1 ms a request, and without it the first requests \
after a PostgreSQL restart would answer 500 on dead pooled connections.
Storing a task's rendered fields from a thread of
its supervisor while the task goes on (joined before anything that ends the try): `PUT …/rtif` left the task's
path (7-20 → 0.4-1 ms in the task), but the XCom write beside it slowed by ≈ 2 ms; the critical path's four
tasks' overhead, sum of the medians over 3 interleaved pairs of 8 comprehensive_analysis runs: 592 → 570 ms,
inside the machine's noise (the pairs' in-task medians 0.687 → 0.642, 0.557 → 0.452, 0.577 → 0.658 s). Not kept:
a failure to store the fields would no longer fail the task, for ≈ 5 ms a task. Left as it is, on purpose: the
Celery result backend stays in PostgreSQL, as Airflow recommends (one store fewer to lose in a restart; its
connection churn is gone, above). Before the scheduler was woken by PostgreSQL (first row above), a shorter idle
sleep was tried twice. At 0.1 s (`load.bench --only analysis,batch`, 2026-12-05, one run each)
comprehensive_analysis' Airflow-added time fell 1.55 → 1.10 s (the scheduler's hand-offs 0.63 → 0.27 s), but the
scheduler took 5.5 → 11.0 CPU-s and PostgreSQL 1.4 → 2.7 CPU-s per 20-song batch_analysis: Airflow 0.50 → 0.88
CPU-s per song, 77 instead of 84 % of the Essentia limit. Tried again at 0.15 s with the pooled result backend
(`load.bench --compare HEAD --only analysis,batch --rounds 1`, 2026-12-06 01:43 UTC, the slower machine):
trigger→success 2.93 → 2.50 s, but Airflow CPU per batch song 0.74 → 0.94 CPU-s at chunk_size 4 and 0.92 → 1.06
at 10. Airflow's scheduler loop costs about 25 ms of CPU whether or not anything changed, so with polling the
two targets pulled against each other; woken at each hand-off, the scheduler needs no short sleep, and both
moved the same way.
"""

PROFILE_MD = """\
## Where Airflow's CPU goes (py-spy)

`py-spy record --subprocesses --rate 200 --format raw` on the worker, the api-server, the scheduler and
workflow-audio of a local celery stack (`make up`), during 8 comprehensive_analysis runs and then an 8-song
batch_analysis (one chunk per song), 2026-12-05. Top items by share of each process's samples, and what
each change did to them:

| process | top item (share of samples) | change | after |
|---|---|---|---|
| Celery worker + task processes (21.2 CPU-s) | GitPython imported again at every task's start by \
Airflow's `DagBundlesManager` (24 %, 5.0 CPU-s) | the worker preloads `airflow.providers.git.bundles.git` \
(`hss_airflow.celery_config`) | 0 %; worker 17.6 CPU-s, task processes 11.6 → 8.5, task-runner start-up \
7.2 → 3.3 CPU-s |
| task processes | the DAG file parsed in every task (7.8 %), pydantic `TypeAdapter` builds (3.9 %) | \
batch_analysis maps over chunks of 4 songs: one task start and parse per chunk | worker 3.2 → 1.2 CPU-s \
per 20-song batch (`load.bench --only batch`, chunk_size 1 → 4) |
| scheduler (≈ 7 CPU-s per 20-song batch) | Celery's result-backend polling in PostgreSQL (22 %), of \
which a new PostgreSQL connection at every executor sync (11.5 %: Celery pools connections only after a \
fork, and the scheduler never forks) | 2026-12-06: the result backend stays in PostgreSQL through \
`PooledDatabaseBackend`, one pooled engine per process | before it, on 2026-12-05 (`py-spy record --rate 100` \
on the scheduler, 50 s of a batch_analysis): the polling 23 %, a new SQLAlchemy engine and connection for it \
19 %, Airflow's pool pre-ping 6 %; the rest is Airflow's own loop (`_schedule_all_dag_runs` 20 %, queueing \
12 %). After it: Airflow CPU per batch song 1.11 → 0.91 CPU-s at chunk_size 4 (`load.bench --compare`, \
2026-12-06; the scheduler was not profiled again) |
| api-server, execution API (its access log, `make up`, 7 comprehensive_analysis runs, 2026-12-06) | per \
task: the start (`PATCH …/run`, 36 ms median), the rendered fields (`PUT …/rtif`, 20 ms), one XCom read per \
upstream (10 ms each), the XCom write (14 ms), the final state (18 ms); aggregate_results wrote 5 more XComs \
(≈ 20 ms each), one per key of its dict. And every wait of the test harness read the task list (43 ms) beside \
the run's state (15 ms) every 0.5 s | one XCom per dict (`multiple_outputs=False`); `AirflowClient.wait_for_run` \
reads the task list only when asked to report task changes | in-task overhead 0.798 → 0.609 s \
(`load.bench --compare`, above); what is left is Airflow's own per-task protocol |
| Celery worker + task processes, after the rows above (`--only analysis`: a warm-up and 5 runs, 25 s \
recorded, 3.9 busy CPU-s, 2026-12-05 16:17 UTC) | Airflow's supervisor forking and starting each task process \
(`ActivitySubprocess.start` 47 %, the fork itself 29 %), the execution-API requests of the task protocol \
(`httpx` 21 %: start, XCom, state), the task runner with our operator 19 % | none: what is left is Airflow's \
own per-task protocol, 5 tasks per run whose ids the pages, alerts and runbooks name | in-task overhead \
0.63-0.90 s per run against the 0.4 s target (`load.bench --only analysis`, with and without py-spy attached) |
| `make demo`'s scheduler with its LocalExecutor workers and their task processes (`--subprocesses` on the \
scheduler, 5 comprehensive_analysis runs in 40 s, 2026-12-06) | the DAG file's imports in every task process: \
69 % of the task side's 3,501 samples (the hooks module with aiohttp and its SSL context 40 %, the contracts' \
pydantic models 10 %) | the executor imports `hss_airflow.preload`'s modules before it forks its workers \
(`PreloadingLocalExecutor`; +62 MB in the scheduler, shared by the forked workers) | the same 5 runs: the task \
side 922 samples, the DAG parse 12 % of them; make demo's in-task overhead 1.791 → 0.536 s |
| scheduler (6.5 CPU-s per 20-song batch_analysis at chunk_size 4, and 4.1 CPU-s a minute on an idle \
stack, its PostgreSQL connection 1.3 more; `py-spy record` on an idle local stack, 2026-12-06) | its loop every \
0.25 s: all of the samples in `_do_scheduling`'s queries, about 25 ms of CPU a loop whether or not anything \
changed | the loop is woken by PostgreSQL when a task's try ends or a run changes (`hss_airflow.scheduler`), so \
the idle sleep is back at 1 s | scheduler 6.5 → 2.1 CPU-s and PostgreSQL 2.7 → 1.1 CPU-s per 20-song run \
(`load.bench --compare ae8d1e2 --only analysis,batch`, 2026-12-06 13:24 UTC, chunk_size 4) |
| dag-processor (3.5 CPU-s per 54 s batch run) | re-parsing the 7 unchanged DAG files every 30 s \
(from the bench's CPU per component, not profiled) | \
re-parse only on change, else every 300 s | Airflow CPU per batch song 0.72 → 0.57 (`load.bench \
--compare HEAD --only batch`) |
| one task, start to end (timestamps added to Airflow's supervisor and task runner for the measurement \
only, 50 tasks of 10 comprehensive_analysis runs, and the api-server's access log; 2026-12-07) | median per task: \
`PATCH …/run` 19 ms on the api-server, while the forked task process configures its logging (≈ 7-15 ms: \
`dictConfig` resets each of ≈ 180 loggers' caches per level it sets) and its metrics; the plugin load 3.9 ms; \
bundle and DAG file 18 ms (Airflow's own `bundle_prepare_ms` 5, `dag_file_parse_ms` 9); the templates with one \
XCom read per upstream (6 ms each on the api-server); the rendered fields 14.5 ms (`PUT …/rtif` 9 ms); the \
operator 12 ms with its service; the XCom write 10.5 ms (8 ms on the api-server). The api-server's CPU is \
64 ms per task, the Celery worker's with the supervisor and task process 105 ms | the warm-up DAG built \
like ours, the plugin load before the fork, one connection look-up per call (the two rows in "Settings that \
mattered") | the parse 8.7 → 6.5 ms, the plugin load 3.9 → 0 ms, one look-up fewer per service call; what is \
left is the execution API's per-task protocol: 4 requests per task and one per upstream XCom |
| one task, start to end, again on a slower machine (the same temporary timestamps, 37 tasks of 6 runs, \
2026-12-07 16:45 UTC; in-task overhead 0.69 s in that day's `make bench`) | a light task (a 2 ms service \
call) took 155-183 ms: its start to the task process holding its start-up details 51 ms (`PATCH …/run` \
answered after 46 ms, while the forked task process configured its logging in 22 ms and built its comms \
decoder in 14 ms; in a warm process the same calls take 1.5 and 0.5 ms, in a child forked after the worker's \
preload they meet ≈ 2,300 copy-on-write page faults); bundle and DAG file 30 ms; the templates with one XCom \
read per upstream and the rendered fields 53-85 ms (2-4 reads); the operator 13 ms; the XCom write to the \
end_date 15 ms | none: the child's start-up runs beside `PATCH …/run` and ends before its answer. \
`make bench` now prints the api-server's own share of the in-task overhead ("the api-server's time": its \
server-side time on the path's tasks' requests within their start→end) | — |
| a light task's process, function by function (cProfile around Airflow's task runner `main`, for the \
measurement only: 50 task processes of 10 comprehensive_analysis runs, 2026-12-07 21:58 UTC; cProfile's wall \
clock, its own overhead included: 166 ms per ai_insights task against ≈ 120 ms without it) | ai_insights: waiting \
for the supervisor's answers 78 ms (its start-up details, three XCom reads 33 ms, the rendered fields, the XCom \
write 13 ms); the DAG file's parse 29 ms (the file itself 13 ms, of which the operators' `apply_defaults` 10 ms \
deep-copying the DAG's params for each; the Git bundle's start 5.6 ms, re-reading its bare repository's origin); \
the params' validation 7.8 ms (the metaschema checks 6.9 ms); the rendered fields' adapters 6.2 ms; Jinja \
compiling the templates 5.5 ms (its lexer's regexes 2.1 ms); the operator's service call 15.7 ms, its service \
10 ms of it | the params' schemas, the adapters and the lexer from the preload (the row in "Settings that \
mattered") | a light task process's CPU 45-49 → 38-41 ms (`getrusage`, same row); what is left is the \
protocol's waits and Airflow's parse of the DAG file in every task |
| a light task's process after the parse before the fork (cProfile around Airflow's task runner `main`, for \
the measurement only: 49 light task processes of 10 comprehensive_analysis runs, 2026-12-08 00:28 UTC, a machine \
≈ 2x slower than the day before; 241 ms per task with cProfile's overhead) | per task: waiting for the \
supervisor's answers 134 ms (the start-up details 16, the XCom reads 43 for 2.2 reads, the XCom write 23); \
Airflow's `parse` 20.6 ms with no DAG file parsed, of which the Git bundle's start 10.6 (re-reading the bare \
repository's origin 8.3) and the bundle manager 4.4; the bundle version's tracking file 8.3 ms (Airflow's \
`BundleVersionLock` rewrites `_tracking/<version>` in place: its truncating open 6.3 ms on this disk beside \
PostgreSQL's fsyncs, 0.3 ms on an idle one); the operator 33.6 ms (the HTTP hook's call 16.9 with its service); \
logging 7.5 ms (8 lines); Airflow's config reads 6.1 ms (52 per task); connection look-ups 5.2 ms (1.7 per task) \
| the DAG file's parse before the fork (the row in "Settings that mattered") | what is left is Airflow's: its \
protocol's waits, its bundle start and version lock in every task |
| one task's messages to its supervisor (every message the task process sent, timed there for the \
measurement only: 10 probes of 6-12 comprehensive_analysis runs, 2026-12-07 19:10-20:00 UTC, the same code \
giving in-task overheads from 0.40 to 0.85 s as the shared host's load came and went) | per light task, a \
round trip through the supervisor to the api-server: each XCom read 5-8 ms in a quiet minute, 10-24 ms in a \
busy one; the rendered fields 7-30 ms after 2-5 ms of serializing them; the XCom write 11-15 ms. The \
api-server spends 8.2 ms of CPU on one `GET …/xcoms/…` (400 sequential requests, idle stack; py-spy: \
SQLAlchemy 17 %, Starlette's `BaseHTTPMiddleware` 14 %, sending the response through the access-log \
middleware 13 %, FastAPI's dependencies 12 %, Cadwyn's version conversions 10 %, the JWT 6 %) | the task \
process's channel set-up from the preload (the row in "Settings that mattered"); a separate execution-API \
server and the rendered fields in the background were tried ("Did not matter") | the set-up 12 → 7-8 ms per \
task; on the path's four tasks, 9 XCom reads, 4 rendered fields, 4 XCom writes and 4 starts stay: ≈ 0.3 s of \
round trips on a busy minute, before any task does its own work |
"""
