"""Load tests of the full stack with Locust: user classes, profiles with pass/fail thresholds, reports.

    python -m load.run --profile smoke          # what `make test` runs; `make load` runs `default`

Modules: `targets` (stack.json and the user-class catalog), `payloads` (real request bodies),
`profiles` (profiles.toml and threshold evaluation), `locustfile` (the Locust users, loaded only by
Locust: importing Locust monkey-patches the process with gevent), `run` (the CLI and `measure()`).

Imports beyond the layer rule (load → contracts, fixtures): `run` reads stack.json's pids with
e2e.harness.stack_file, the module that writes that file, and starts the stack by name
(`python -m e2e.stack_cli up`); `bench/` drives the e2e harness (see its docstring).
"""
