"""Kubernetes manifests validate against the Kubernetes JSON schemas and fit the worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import ValidationError, validate

from streams.core.rules import DEFAULT_RULES_PATH, parse_rules
from streams.settings import Settings
from tests.deploy.conftest import DEPLOY

K8S_VERSION = "1.33.0"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))


def documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d]


def by_kind(kind: str, name: str | None = None) -> dict[str, Any]:
    return next(d for _, d in documents()
                if d["kind"] == kind and name in (None, d["metadata"]["name"]))  # fmt: skip


@pytest.mark.parametrize(
    ("path", "doc"), documents(), ids=lambda v: v.name if isinstance(v, Path) else v["kind"]
)
def test_manifest_matches_the_kubernetes_schema(path: Path, doc: dict[str, Any]) -> None:
    """Strict: unknown fields are errors too."""
    validate(doc, K8S_VERSION, strict=True)


def test_the_schema_check_rejects_a_misspelt_field() -> None:
    broken = by_kind("StatefulSet")
    broken = {**broken, "spec": {**broken["spec"], "replica": 3}}
    with pytest.raises(ValidationError):
        validate(broken, K8S_VERSION, strict=True)


def test_statefulset_runs_the_worker_as_designed() -> None:
    sts = by_kind("StatefulSet")
    pod = sts["spec"]["template"]
    container = pod["spec"]["containers"][0]
    port = container["ports"][0]["containerPort"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in container["env"]}
    assert env["LIVEWATCH_GROUP_INSTANCE_ID"]["value"] == "$(POD_NAME)"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config = next(d for _, d in documents() if d["metadata"]["name"] == "livewatch-settings")
    data = config["data"]
    assert mounts["data"] == data["LIVEWATCH_DATA_DIR"]
    assert data["LIVEWATCH_RULES_PATH"].startswith(mounts["rules"] + "/")
    assert int(data["LIVEWATCH_WEB_PORT"]) == port
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert sts["spec"]["serviceName"] == "livewatch-headless"
    # the settings in the ConfigMap are settings the worker accepts
    Settings.model_validate({k.removeprefix("LIVEWATCH_").lower(): v for k, v in data.items()})


def test_rules_configmap_is_the_packaged_default() -> None:
    rules = next(d for _, d in documents() if d["metadata"]["name"] == "livewatch-rules")
    text = rules["data"]["rules.yaml"]
    assert text == DEFAULT_RULES_PATH.read_text()
    parse_rules(text, "configmap-rules.yaml")


def test_the_notifier_deployment_serves_its_probes_where_it_listens() -> None:
    deployment = by_kind("Deployment", "livewatch-notify")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["livewatch", "notify"]
    env = {e["name"]: e["value"] for e in container["env"]}
    settings = Settings.model_validate({k.removeprefix("LIVEWATCH_").lower(): v
                                        for k, v in env.items()})  # fmt: skip
    assert container["ports"][0]["containerPort"] == settings.notify_port
    assert len(settings.alertmanagers) == 2
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_the_board_asks_every_worker_and_needs_its_token() -> None:
    deployment = by_kind("Deployment", "livewatch-board")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["livewatch", "board"]
    env = {e["name"]: e for e in container["env"]}
    settings = Settings.model_validate({k.removeprefix("LIVEWATCH_").lower(): e["value"]
                                        for k, e in env.items() if "value" in e})  # fmt: skip
    assert container["ports"][0]["containerPort"] == settings.board_port
    assert env["LIVEWATCH_BOARD_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "token"
    sts = by_kind("StatefulSet")
    name, headless = sts["metadata"]["name"], sts["spec"]["serviceName"]
    port = sts["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert settings.board_worker_urls == [
        f"http://{name}-{i}.{headless}:{port}" for i in range(sts["spec"]["replicas"])
    ]
    service = by_kind("Service", "livewatch-board")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize(
    ("kind", "name", "program"),
    [("StatefulSet", None, "worker"), ("Deployment", "livewatch-notify", "notify"),
     ("Deployment", "livewatch-board", "board")],
)  # fmt: skip
def test_servers_read_the_api_token_from_a_mounted_secret(
    kind: str, name: str | None, program: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every livewatch server listens beyond loopback in its pod: its settings (ConfigMap and
    env) pass the listening check with the token file the Secret volume provides, and would
    fail it without."""
    pod = by_kind(kind, name)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    path = env["LIVEWATCH_API_TOKEN_FILE"]["value"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mount = next(n for n, at in mounts.items() if path.startswith(at + "/"))
    assert volumes[mount]["secret"]["secretName"] == "livewatch-api-token"
    config = by_kind("ConfigMap", "livewatch-settings")["data"]
    values = {**config, **{k: e["value"] for k, e in env.items() if "value" in e}}
    plain = {k.removeprefix("LIVEWATCH_").lower(): v for k, v in values.items()
             if k.startswith("LIVEWATCH_") and not k.endswith("_FILE")}  # fmt: skip
    if "LIVEWATCH_BOARD_TOKEN" in env:  # from a Secret by reference
        plain["board_token"] = "from-the-secret"
    token = tmp_path / "token"
    token.write_text("t\n")
    monkeypatch.setenv("LIVEWATCH_API_TOKEN_FILE", str(token))
    assert Settings.model_validate(plain).open_listeners(program) is None
    monkeypatch.delenv("LIVEWATCH_API_TOKEN_FILE")
    if program != "board":
        assert Settings.model_validate(plain).open_listeners(program) is not None
