"""`make bench`: time and throughput of the platform on this machine, against targets and physical limits.

    python -m load.bench [--only audio,dags,growth] [--quick] [--output PATH] [--strict]
    python -m load.bench --compare BASE_REF [--rounds N] [--quick]

Six benchmarks (docs/PERFORMANCE.md holds the last full run): the audio service's overhead over
MusicExtractor and its pool scaling (`audio`), comprehensive_analysis' added Airflow time,
batch_analysis throughput against the Essentia-bound limit and the training DAG's breakdown (`dags`),
and growth at 1x/4x/16x (`growth`).

Modules: `report` (figures, targets, the table and PERFORMANCE.md), `limits` (the arithmetic: Essentia
limit, growth exponent), `audio` (benchmarks 1-2 through `python -m load.bench.audio_direct --json`),
`airflow_runs` (the bench stack and timed DAG runs), `data` (synthesized inputs), `dags` (3-5),
`growth` (6), `compare` (`--compare BASE_REF`: analysis and batch of a base commit vs this tree, interleaved),
`__main__` (the CLI).

Imports: load/bench → stack (LocalStack, DockerStack, AirflowClient, stack.service_metrics), contracts and
fixtures, never e2e. The benchmarks drive the very stack and REST client the e2e tests use, so a figure here
describes what `make e2e` proves works. Like the rest of load/, nothing here
imports services/ or airflow/: the services and Airflow run as processes, started by name (the one
exception, `audio_direct`, imports the audio service's extractor options, in its own process).
"""
