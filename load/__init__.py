"""Load tests of the full stack with Locust: user classes, profiles with pass/fail thresholds, reports.

    python -m load.run --profile smoke          # what `make test` runs; `make load` runs `default`

Modules: `targets` (stack.json and the user-class catalog), `payloads` (real request bodies),
`profiles` (profiles.toml and threshold evaluation), `locustfile` (the Locust users, loaded only by
Locust: importing Locust monkey-patches the process with gevent), `run` (the CLI and `measure()`).
"""
