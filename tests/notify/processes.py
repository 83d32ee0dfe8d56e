"""A real Alertmanager and a webhook receiver for the notifier's end-to-end test."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from streams.devtools.children import stop
from streams.devtools.kafka_local import free_port

CONFIG = """\
route:
  receiver: hook
  group_by: [alert_id]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook}
        send_resolved: true
"""


class AlertmanagerProcess:
    """Debian's `prometheus-alertmanager` on a loopback port, started and stopped by pid."""

    def __init__(
        self,
        tmp: Path,
        hook_url: str,
        config: Path | None = None,
        basic_auth: tuple[str, str, str] | None = None,
    ) -> None:
        """With `config`, that file; else one routing everything to `hook_url`. With
        `basic_auth` (user, password, its bcrypt hash), every request needs that login
        (`--web.config.file`)."""
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            pytest.fail("prometheus-alertmanager is not installed: run .ci/run (make tools)")
        self.binary = binary
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if config is None:
            config = tmp / "alertmanager.yml"
            config.write_text(CONFIG.format(hook=hook_url))
        self.config = config
        self.login: tuple[str, str] | None = None
        self.web_args: list[str] = []
        if basic_auth is not None:
            user, password, hashed = basic_auth
            web = tmp / "web.yml"
            web.write_text(f"basic_auth_users:\n  {user}: '{hashed}'\n")
            self.login, self.web_args = (user, password), [f"--web.config.file={web}"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        """Start with a fresh storage directory: a restarted pod that lost its memory."""
        self.runs += 1
        storage = self.tmp / f"storage-{self.runs}"
        with (self.tmp / "alertmanager.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, f"--config.file={self.config}", f"--storage.path={storage}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
                 "--log.level=debug", *self.web_args],  # debug: every flush and notification
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alertmanager exited; see {self.tmp / 'alertmanager.log'}")
            try:
                request = urllib.request.Request(f"{self.url}/-/ready")
                if self.login is not None:
                    token = base64.b64encode(":".join(self.login).encode()).decode()
                    request.add_header("Authorization", f"Basic {token}")
                with urllib.request.urlopen(request, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("alertmanager not ready in 30 s")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout_s=15)
            self.proc = None


class Webhook:
    """Collects Alertmanager's webhook notifications: one (status, alert_id, severity) per
    alert of each notification, in arrival order."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.notifications: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            self.notifications.append(json.loads(await request.read()))
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def seen(self) -> list[tuple[str, str, str]]:
        return [
            (a["status"], a["labels"]["alert_id"], a["labels"]["severity"])
            for n in self.notifications
            for a in n["alerts"]
        ]

    def alerts(self) -> list[dict[str, Any]]:
        return [a for n in self.notifications for a in n["alerts"]]
