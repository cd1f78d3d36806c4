"""The stack tool: brings the platform up (`make up`, `make demo`, `make dags-*`) and offers the `Stack`
interface the e2e tests and the load benchmarks drive.

    python -m stack up|down|status        # make up / down / status (stack/__main__.py, stack/commands.py)
    python -m stack.dags deploy|rollback|history
    python -m stack.demo

Backends: DockerStack (stack/docker_stack.py: docker-compose.yml) and LocalStack (stack/local_stack.py: the
same topology as local processes), both built from one StackConfig (stack/config.py). Paths and component
names: stack/paths.py. Nothing here imports e2e or load (import-linter checks it).
"""
