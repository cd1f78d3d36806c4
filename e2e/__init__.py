"""End-to-end tests of the platform. They drive a full stack through the `stack` package's `Stack` interface
(docker or local backend, E2E_BACKEND) and its REST client; nothing here starts or stops processes itself.

    e2e/tests/full_stack/   one stack per package (conftest.py): DAG runs, faults, bad input, auth, the UI
    e2e/tests/              the compose files rendered and checked (no stack), docker/init_checks.py
    e2e/param_fuzz.py       hypothesis strategies for every DAG's params (make fuzz)

The stack tool itself (make up/down/status/demo/dags-*) and its unit tests live in stack/.
"""
