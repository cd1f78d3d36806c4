"""The five services on the docker backend: stop and start them, scale workflow-audio behind its balancer.

Mixed into DockerStack (docker_stack.py), which provides `_compose(*args)`, `_service_url(name)`, `service_urls`,
`audio_replicas`, `compose`, `timeout` and `_log_tail(service)`.
"""

from __future__ import annotations

from contracts.catalog import service_by_name
from stack.balancer import balancer_view
from stack.compose_project import DockerStackError
from stack.paths import AUDIO_BALANCER, AUDIO_SERVICE
from stack.waiting import WaitTimeout, answers, wait_until


class DockerServices:
    def stop_service(self, name: str) -> None:
        service_by_name(name)  # KeyError naming the known services
        self._compose("stop", name)

    def start_service(self, name: str) -> None:
        """`docker compose start`, then wait for /ready. The URL is read again: a restarted container may get a
        new ephemeral host port, so `service_urls[name]` can change."""
        service_by_name(name)  # KeyError naming the known services
        self._compose("start", name)

        def ready_url() -> str | None:
            try:
                url = self._service_url(name)
            except Exception:  # not running yet: no publisher
                return None
            return url if answers(f"{url}/ready") else None

        try:
            self.service_urls[name] = wait_until(ready_url, self.timeout, 0.5, f"{name} /ready")
        except WaitTimeout:
            raise DockerStackError(
                f"{name} not ready {self.timeout:.0f} s after docker compose start:\n{self._log_tail(name)}"
            ) from None
        if name == AUDIO_SERVICE:
            self._wait_balanced(self.audio_replicas)

    def scale_audio(self, replicas: int) -> None:
        """`docker compose up -d --no-deps --scale workflow-audio=N workflow-audio`: the balancer's server template
        takes the new replicas from the network's DNS; wait until it serves every one."""
        self._compose("up", "-d", "--no-deps", "--no-recreate", "--scale", f"{AUDIO_SERVICE}={replicas}", AUDIO_SERVICE)
        self.audio_replicas = replicas
        self.compose.scale[AUDIO_SERVICE] = replicas  # what a later `up` keeps
        self._wait_balanced(replicas)

    def _wait_balanced(self, replicas: int) -> None:
        try:
            wait_until(
                lambda: balancer_view(self.service_urls[AUDIO_SERVICE]).serving == replicas,
                self.timeout,
                0.5,
                f"the balancer serving {replicas} {AUDIO_SERVICE} replica(s)",
            )
        except WaitTimeout:
            raise DockerStackError(
                f"{AUDIO_BALANCER} does not serve {replicas} replica(s) of {AUDIO_SERVICE}:\n"
                f"{self._log_tail(AUDIO_BALANCER)}"
            ) from None
