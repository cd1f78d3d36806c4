"""Load tests of the full stack with Locust: user classes, profiles with pass/fail thresholds, reports.

    python -m load.run --profile smoke          # what `make test` runs; `make load` runs `default`

Modules: `targets` (stack.json and the user-class catalog), `payloads` (real request bodies),
`profiles` (profiles.toml and threshold evaluation), `locustfile` (the Locust users, loaded only by
Locust: importing Locust monkey-patches the process with gevent), `run` (the CLI and `measure()`).

Imports: load builds on the stack tool (`stack`), never on e2e (import-linter: e2e and load are independent).
`run` reads stack.json's pids with stack.stack_file, the module that writes that file, and starts the stack
by name (`python -m stack up`); `bench/` drives the stack tool's LocalStack/DockerStack (see its docstring).
"""
