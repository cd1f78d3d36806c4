"""workflow-audio's replicas on the local backend: stop and start them together, scale them behind HAProxy.

Mixed into LocalStack (local_stack.py), which provides `group`, `balancer`, `audio_replicas`, `service_processes`,
`logs_dir`, `timeout`, `_process(name)` and `_supervision_changed()`.
"""

from __future__ import annotations

from contracts.catalog import service_by_name
from stack.balancer import MAX_REPLICAS, balancer_view
from stack.paths import AUDIO_BALANCER, AUDIO_SERVICE
from stack.processes import ManagedProcess, free_port
from stack.services import replica_names, start_service_process
from stack.waiting import wait_until


class LocalScaling:
    def _replicas(self, service: str) -> list[ManagedProcess]:
        """The service's processes that run (or were stopped on purpose): every replica of workflow-audio."""
        names = set(replica_names(service, MAX_REPLICAS))
        found = [p for p in self.group.processes if p.name in names and p.popen is not None]
        return found or [self._process(service)]  # the KeyError naming what runs

    def stop_service(self, name: str) -> None:
        """Stop every replica, as `docker compose stop` does."""
        for process in self._replicas(name):
            process.stop()

    def start_service(self, name: str) -> None:
        processes = self._replicas(name)[: self.audio_replicas if name == AUDIO_SERVICE else 1]
        for process in processes:
            if not process.alive():
                process.start()
        for process in processes:
            process.wait_healthy(self.timeout)
        if name == AUDIO_SERVICE and self.balancer:
            self._wait_balanced(len(processes))

    def scale_audio(self, replicas: int) -> None:
        """Run `replicas` workflow-audio processes behind the balancer (as `docker compose up --scale`): new ones
        get free ports and the first one's environment, extra ones are stopped; HAProxy restarts on the new list
        (a moment without the service: scale while no analysis runs), then this waits until it serves them all."""
        if self.balancer is None:
            raise RuntimeError("workflow-audio has no balancer on this stack (profile 'celery' only)")
        first = self._process(AUDIO_SERVICE)
        known = {p.name: p for p in self._replicas(AUDIO_SERVICE)}
        wanted = replica_names(AUDIO_SERVICE, replicas)
        for name in wanted:
            if name not in known:
                spec = service_by_name(AUDIO_SERVICE)
                started = start_service_process(self.group, spec, name, free_port(), dict(first.env), self.logs_dir)
                known[name] = started.process
            elif not known[name].alive():
                known[name].start()
        for name, process in known.items():
            if name not in wanted:
                process.stop()  # on purpose: the supervisor leaves it stopped
        for name in wanted:
            known[name].wait_healthy(self.timeout)
        urls = {name: known[name].health_url.removesuffix("/ready") for name in wanted}
        self.balancer.write_config(urls)
        lb = self._process(AUDIO_BALANCER)
        lb.stop(grace=5)
        lb.start()
        lb.wait_healthy(self.timeout)
        self.audio_replicas = replicas
        self.service_processes = [p for p in self.service_processes if p[0] != AUDIO_SERVICE]
        self.service_processes += [(AUDIO_SERVICE, url) for url in urls.values()]
        self._wait_balanced(replicas)
        self._supervision_changed()

    def _wait_balanced(self, replicas: int) -> None:
        wait_until(
            lambda: balancer_view(self.balancer.url).serving == replicas,
            self.timeout,
            0.2,
            f"the balancer serving {replicas} workflow-audio replica(s)",
        )

    def _balancer_info(self) -> dict:
        replicas = [url for service, url in self.service_processes if service == AUDIO_SERVICE]
        return {"audio_replicas": self.audio_replicas, "balancer": {"url": self.balancer.url, "replicas": replicas}}
