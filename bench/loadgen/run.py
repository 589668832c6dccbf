"""One load-generator run against one server: provision, then each requested phase once."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen.matrix import MatrixClient, new_session
from bench.loadgen.measure import ResourceWindow
from bench.loadgen.scenarios import accounts_phase, initial_sync_phase, send_phase
from bench.loadgen.workload import Population, provision

ALL_PHASES = ("send", "offered", "initial_sync", "accounts")


@dataclass
class RunConfig:
    """What to run; the defaults are the issue's workload."""

    base_url: str
    registration_token: str | None = None
    server_pid: int | None = None
    sender_counts: tuple[int, ...] = (8, 64)
    receivers: int = 8
    duration: float = 15.0
    warmup: float = 3.0
    offered_rates: tuple[float, ...] = (20.0, 500.0)
    offered_senders: int = 8
    phases: tuple[str, ...] = ALL_PHASES
    delivery: bool = True
    history_rooms: int = 20
    history_events: int = 1000
    initial_sync_reps: int = 3
    accounts_count: int = 16
    extra: dict[str, Any] = field(default_factory=dict)


class LoadGenerator:
    """Holds the pooled session and the provisioned population across repeated phases."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.session = new_session()
        self.client = MatrixClient(self.session, config.base_url)
        self.population: Population | None = None
        self.provision_result: dict[str, Any] = {}

    async def close(self) -> None:
        await self.session.close()

    async def provision(self) -> dict[str, Any]:
        cfg = self.config
        await self.client.wait_until_up()
        t0 = time.perf_counter()
        async with ResourceWindow(cfg.server_pid) as window:
            self.population = await provision(
                self.client, max(cfg.sender_counts + (cfg.offered_senders,)), cfg.receivers,
                cfg.registration_token, history="initial_sync" in cfg.phases,
                history_rooms=cfg.history_rooms, history_events=cfg.history_events)
        self.provision_result = {"seconds": round(time.perf_counter() - t0, 2), "resources": window.result}
        return self.provision_result

    async def phase(self, name: str) -> dict[str, Any]:
        """Run one named phase ("send_8", "send_64", "offered_500", "initial_sync", "accounts")."""
        cfg, pop = self.config, self.population
        assert pop is not None, "provision first"
        if name.startswith("send_"):
            return await send_phase(self.client, pop, int(name[5:]), cfg.duration, cfg.warmup,
                                    cfg.server_pid, delivery=cfg.delivery)
        if name.startswith("offered_"):
            return await send_phase(self.client, pop, cfg.offered_senders, cfg.duration, cfg.warmup,
                                    cfg.server_pid, offered_rate=float(name[8:]), delivery=cfg.delivery)
        if name == "initial_sync":
            return await initial_sync_phase(self.client, pop, cfg.server_pid, cfg.initial_sync_reps)
        if name == "accounts":
            return await accounts_phase(self.client, pop, cfg.registration_token, cfg.server_pid,
                                        cfg.accounts_count)
        raise ValueError(f"unknown phase {name}")

    def phase_names(self) -> list[str]:
        cfg = self.config
        names: list[str] = []
        if "send" in cfg.phases:
            names += [f"send_{s}" for s in cfg.sender_counts]
        if "offered" in cfg.phases:
            names += [f"offered_{rate:g}" for rate in cfg.offered_rates]
        names += [p for p in ("initial_sync", "accounts") if p in cfg.phases]
        return names


async def run_once(config: RunConfig) -> dict[str, Any]:
    """Provision and run every requested phase once: the document the CLI prints."""
    gen = LoadGenerator(config)
    try:
        report: dict[str, Any] = {"base_url": config.base_url, "provision": await gen.provision(),
                                  "phases": {}}
        for name in gen.phase_names():
            report["phases"][name] = await gen.phase(name)
        return report
    finally:
        await gen.close()
