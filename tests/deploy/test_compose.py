"""docker-compose.yml hangs together (Docker itself is not on this machine, so it is read)."""

from __future__ import annotations

from typing import Any

import yaml

from tests.deploy.conftest import DEPLOY, ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def host_mounts() -> list[tuple[str, str, str]]:
    """(service, host path, container path) of every bind mount."""
    found = []
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            host, container = volume.split(":")[:2]
            if host.startswith("."):
                found.append((name, host, container))
    return found


def test_the_stack_has_every_part() -> None:
    expected = {"kafka", "topics", "worker", "notify", "board", "simulator", "prometheus",
                "alertmanager", "grafana"}  # fmt: skip
    assert expected <= set(SERVICES)
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    assert SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_every_mounted_file_exists() -> None:
    mounts = host_mounts()
    assert len(mounts) >= 5
    for service, host, _ in mounts:
        assert (ROOT / host).exists(), f"{service} mounts missing {host}"


def test_builds_point_at_existing_files() -> None:
    for service in SERVICES.values():
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_worker_reaches_kafka_and_prometheus_reaches_the_worker() -> None:
    kafka_env = SERVICES["kafka"]["environment"]
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].split("//")[1]
    for name in ("topics", "worker", "simulator"):
        assert SERVICES[name]["environment"]["LIVEWATCH_KAFKA_BOOTSTRAP"] == advertised
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    targets = [t for job in prometheus["scrape_configs"] for c in job["static_configs"]
               for t in c["targets"]]  # fmt: skip
    worker_port = SERVICES["worker"]["environment"]["LIVEWATCH_WEB_PORT"]
    assert f"worker:{worker_port}" in targets
    alertmanagers = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    host, port = alertmanagers[0].split(":")
    assert host in SERVICES
    assert f"{port}:{port}" in SERVICES[host]["ports"]


def test_config_paths_inside_containers_are_mounted() -> None:
    mounted = {(s, c) for s, _, c in host_mounts()}
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    rules_dir = prometheus["rule_files"][0].rsplit("/", 1)[0]
    assert ("prometheus", rules_dir) in mounted
    assert ("prometheus", "/etc/prometheus/prometheus.yml") in mounted
    assert ("alertmanager", "/etc/alertmanager/alertmanager.yml") in mounted
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/livewatch.yml").read_text()
    )["providers"][0]
    assert ("grafana", provider["options"]["path"]) in mounted
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    assert "9090:9090" in SERVICES["prometheus"]["ports"]


def test_depends_on_names_real_services() -> None:
    for service in SERVICES.values():
        assert set(service.get("depends_on", [])) <= set(SERVICES)


def test_the_board_asks_the_worker_and_is_published_on_loopback_only() -> None:
    board = SERVICES["board"]["environment"]
    worker = SERVICES["worker"]["environment"]
    assert board["LIVEWATCH_BOARD_WORKERS"] == f"http://worker:{worker['LIVEWATCH_WEB_PORT']}"
    port = board["LIVEWATCH_BOARD_PORT"]
    assert SERVICES["board"]["ports"] == [f"127.0.0.1:{port}:{port}"]


PROGRAMS = {"worker": "worker", "notify": "notify", "board": "board"}


def test_servers_beyond_loopback_read_their_tokens_from_compose_secrets(
    tmp_path: Any, monkeypatch: Any
) -> None:
    """Each livewatch server listens on 0.0.0.0 in its container, so each needs its token: read
    from a compose secret (never a literal), it starts (the settings pass the listening check);
    without it, it would refuse to. Published ports are on the host's loopback only."""
    from streams.settings import Settings

    declared = COMPOSE["secrets"]
    for service, program in PROGRAMS.items():
        spec = SERVICES[service]
        env = {k: str(v) for k, v in spec["environment"].items()}
        assert not any(k.endswith("_TOKEN") for k in env), service  # no literal tokens
        files = {k: v for k, v in env.items() if k.endswith("_TOKEN_FILE")}
        assert files, service
        for var, path in files.items():
            name = path.removeprefix("/run/secrets/")
            assert name in spec["secrets"] and name in declared, (service, var)
            secret = tmp_path / name
            secret.write_text("t\n")
            monkeypatch.setenv(var, str(secret))
        plain = {k.removeprefix("LIVEWATCH_").lower(): v for k, v in env.items()
                 if k.startswith("LIVEWATCH_") and not k.endswith("_FILE")}  # fmt: skip
        assert Settings.model_validate(plain).open_listeners(program) is None, service
        for var in files:
            monkeypatch.delenv(var)
        assert Settings.model_validate(plain).open_listeners(program) is not None, service
        assert all(p.startswith("127.0.0.1:") for p in spec.get("ports", [])), service
    ignored = (ROOT / "deploy/docker/secrets/.gitignore").read_text().split()
    assert ignored[0] == "*"
    for secret in declared.values():
        assert secret["file"].startswith("./deploy/docker/secrets/")


def test_prometheus_scrapes_with_the_tokens_it_is_given() -> None:
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    for job in prometheus["scrape_configs"]:
        path = job["authorization"]["credentials_file"]
        assert path.removeprefix("/run/secrets/") in SERVICES["prometheus"]["secrets"], job
