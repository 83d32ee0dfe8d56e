"""Apache Kafka (KRaft) on loopback, from Maven Central jars: for the demo and tests.

The jars are resolved once with Maven into `deploy/kafka-local/.cache/libs`; each instance keeps its
config, data, log and pid file under one state directory, so `up` twice is harmless and `down`
stops exactly the process it started. `KafkaLocal` is one node (broker and controller);
`KafkaCluster` is several such nodes forming one quorum, for the fault tests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_LOCAL_DIR = REPO_ROOT / "deploy" / "kafka-local"
LIBS_DIR = KAFKA_LOCAL_DIR / ".cache" / "libs"
DEFAULT_STATE_DIR = KAFKA_LOCAL_DIR / ".cache" / "run"
DEFAULT_PORT = 9092


class KafkaLocalError(RuntimeError):
    """The local broker could not be resolved, started or stopped."""


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the kernel's
    ephemeral range where there is room: a port the kernel hands out for port 0 comes from
    that range, where any outgoing connection (a Kafka client's) may take it before the
    process it was chosen for binds it (a CI run lost a worker to "address already in use"
    that way)."""
    low = _ephemeral_low()
    if low > 11_000:
        for port in random.sample(range(low - 10_000, low), 40):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (0: not known)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def resolve_jars(libs_dir: Path = LIBS_DIR) -> Path:
    """Copy the broker's runtime jars from Maven Central into `libs_dir`, once."""
    if any(libs_dir.glob("kafka_2.13-*.jar")):
        return libs_dir
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(KAFKA_LOCAL_DIR / "pom.xml"),
        "dependency:copy-dependencies",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(libs_dir.glob("kafka_2.13-*.jar")):
        raise KafkaLocalError(
            f"resolving Kafka jars with Maven failed (exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return libs_dir


def _cluster_id() -> str:
    # Kafka's Uuid string form: URL-safe base64 of 16 bytes without padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _answers(bootstrap: str, timeout_s: float) -> bool:
    # A refused connection is the expected answer while the broker starts: keep it out of the logs.
    for name in ("aiokafka", "aiokafka.conn", "aiokafka.client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)  # sends a MetadataRequest
        return True
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await client.close()


def broker_answers(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when a broker at `bootstrap` answers a metadata request."""
    return asyncio.run(_answers(bootstrap, timeout_s))


@dataclass(frozen=True)
class SecureListener:
    """A SASL_SSL listener beside the plaintext one: TLS with a PKCS12 keystore, and users who
    may log in with PLAIN and with SCRAM-SHA-512 (the tests of secured connections)."""

    port: int
    keystore: Path
    keystore_password: str
    users: dict[str, str]
    """User name -> password."""


@dataclass
class KafkaLocal:
    """One local broker+controller, identified by its state directory."""

    state_dir: Path = DEFAULT_STATE_DIR
    port: int | None = None
    heap: str = "512m"
    secure: SecureListener | None = None
    node_id: int = 1
    quorum: str | None = None
    """`controller.quorum.voters` of a cluster (`1@127.0.0.1:p1,2@...`); None: this node alone."""
    controller_port: int | None = None
    cluster_id: str | None = None
    replication: int = 1
    """Replication of the broker's internal topics (offsets, transactions): the cluster's size."""
    initial_rebalance_delay_ms: int = 0
    """`group.initial.rebalance.delay.ms`: how long a new consumer group waits for more members
    before its first assignment. 0 here, so a test's lone worker starts at once; Kafka's own
    default is 3,000, under which workers started together share the first assignment instead
    of the first one taking every partition and handing half over a rebalance later."""
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "kafka.pid"

    @property
    def port_file(self) -> Path:
        return self.state_dir / "kafka.port"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self._port()}"

    def _port(self) -> int:
        if self.port is None:
            if self.port_file.exists():
                self.port = int(self.port_file.read_text())
            else:
                self.port = DEFAULT_PORT
        return self.port

    def pid(self) -> int | None:
        """The broker's process id while it runs, else None."""
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return "stopped"
        state = "running" if broker_answers(self.bootstrap) else "starting (not answering yet)"
        return f"{state}: pid {pid}, bootstrap {self.bootstrap}"

    def _write_config(self, port: int, controller_port: int) -> Path:
        data = self.state_dir / "data"
        rf, min_isr = str(self.replication), str(min(2, self.replication))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.quorum
            or f"{self.node_id}@127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "8",
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": str(self.initial_rebalance_delay_ms),
            "auto.create.topics.enable": "false",
            # Every record kept, however old its timestamp: the tests and benchmarks replay the
            # simulator's fixed day (2026-11-28), stamped with its event times, and a week's
            # retention began deleting its first hours on 2026-12-05, under a run's feet (a
            # consumer waiting for records that were gone).
            "log.retention.ms": "-1",
        }
        if self.secure is not None:
            props |= self._secure_props(port, controller_port, self.secure)
        path = self.state_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        log4j = self.state_dir / "log4j2.properties"
        log4j.write_text(
            "rootLogger.level=WARN\nrootLogger.appenderRef.stdout.ref=STDOUT\n"
            "appender.stdout.type=Console\nappender.stdout.name=STDOUT\n"
            "appender.stdout.layout.type=PatternLayout\n"
            "appender.stdout.layout.pattern=[%d] %p %m (%c)%n\n"
            "logger.kafka.name=kafka\nlogger.kafka.level=INFO\n"
        )
        return path

    @staticmethod
    def _secure_props(port: int, controller_port: int, sec: SecureListener) -> dict[str, str]:
        plain_users = " ".join(f'user_{name}="{pw}"' for name, pw in sec.users.items())
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sec.port},"
            f"CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sec.port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
            "SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": "org.apache.kafka.common.security"
            f".plain.PlainLoginModule required {plain_users};",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common"
            ".security.scram.ScramLoginModule required;",
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(sec.keystore),
            "ssl.keystore.password": sec.keystore_password,
            "ssl.key.password": sec.keystore_password,
        }

    def _java(self, libs: Path, *args: str) -> list[str]:
        return [
            "java",
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.state_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            *args,
        ]

    def up(self, timeout_s: float = 90.0) -> str:
        """Start the broker unless it runs; returns the bootstrap address once it answers."""
        if self.pid() is not None:
            self.wait_answering(timeout_s)
            return self.bootstrap
        proc = self.start()
        try:
            self.wait_answering(timeout_s, proc)
        except KafkaLocalError:
            self.down()
            raise
        return self.bootstrap

    def start(self) -> subprocess.Popen[bytes]:
        """Format the data dir if new and start the node, without waiting for it (the nodes of
        a cluster answer only once a majority of them runs)."""
        libs = resolve_jars()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port = self.port or (DEFAULT_PORT if port_free(DEFAULT_PORT) else free_port())
        self.port = port
        config = self._write_config(port, self.controller_port or free_port())
        if not (self.state_dir / "data" / "meta.properties").exists():
            fmt = subprocess.run(
                self._java(
                    libs,
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={self.cluster_id or _cluster_id()}",
                    "-c",
                    str(config),
                    *(
                        f"--add-scram=SCRAM-SHA-512=[name={name},password={pw}]"
                        for name, pw in (self.secure.users.items() if self.secure else ())
                    ),
                ),
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise KafkaLocalError(
                    f"formatting the Kafka data dir failed:\n{fmt.stderr[-3000:]}"
                )
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                self._java(libs, "kafka.Kafka", str(config)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._proc = proc  # held so the running child is not garbage-collected
        self.pid_file.write_text(str(proc.pid))
        self.port_file.write_text(str(port))
        return proc

    def wait_answering(self, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise KafkaLocalError(
                    f"Kafka exited with {proc.returncode} at start; last log lines:\n{self._tail()}"
                )
            if broker_answers(self.bootstrap, timeout_s=2.0):
                return
            time.sleep(0.5)
        raise KafkaLocalError(f"Kafka did not answer within {timeout_s:.0f}s:\n{self._tail()}")

    def _tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker this state dir started; True if one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.2)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.1)
        _reap(pid)
        if self._proc is not None and self._proc.pid == pid:
            self._proc.wait()
            self._proc = None
        self.pid_file.unlink(missing_ok=True)
        return True


@dataclass
class KafkaCluster:
    """`brokers` nodes on loopback, each broker and controller, forming one quorum; ports and
    cluster id are chosen once and kept in `cluster.json`, so `down` and a later `up` find
    the same cluster. Each node has its own state directory (`node-<id>`)."""

    state_dir: Path
    brokers: int = 3
    heap: str = "384m"
    nodes: list[KafkaLocal] = field(init=False)

    def __post_init__(self) -> None:
        layout = self.state_dir / "cluster.json"
        if layout.exists():
            saved = json.loads(layout.read_text())
        else:
            saved = {
                "cluster_id": _cluster_id(),
                "ports": [[free_port(), free_port()] for _ in range(self.brokers)],
            }
            self.state_dir.mkdir(parents=True, exist_ok=True)
            layout.write_text(json.dumps(saved))
        self.brokers = len(saved["ports"])
        quorum = ",".join(
            f"{i + 1}@127.0.0.1:{controller}" for i, (_, controller) in enumerate(saved["ports"])
        )
        self.nodes = [
            KafkaLocal(
                state_dir=self.state_dir / f"node-{i + 1}",
                port=port,
                heap=self.heap,
                node_id=i + 1,
                quorum=quorum,
                controller_port=controller,
                cluster_id=saved["cluster_id"],
                replication=self.brokers,
            )
            for i, (port, controller) in enumerate(saved["ports"])
        ]

    @staticmethod
    def is_cluster(state_dir: Path) -> bool:
        return (state_dir / "cluster.json").exists()

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def up(self, timeout_s: float = 120.0) -> str:
        """Start every node that is not running; returns the bootstrap list once all answer."""
        started = {i: node.start() for i, node in enumerate(self.nodes) if node.pid() is None}
        try:
            for i, node in enumerate(self.nodes):
                node.wait_answering(timeout_s, started.get(i))
        except KafkaLocalError:
            self.down()
            raise
        return self.bootstrap

    def stop_node(self, index: int) -> None:
        """Stop one node (SIGTERM, as an operator's restart would)."""
        self.nodes[index].down()

    def start_node(self, index: int, timeout_s: float = 120.0) -> None:
        node = self.nodes[index]
        node.wait_answering(timeout_s, node.start())

    def pids(self) -> list[int | None]:
        return [node.pid() for node in self.nodes]

    def down(self) -> bool:
        stopped = [node.down() for node in self.nodes]
        return any(stopped)

    def status(self) -> str:
        return "\n".join(f"node {n.node_id}: {n.status()}" for n in self.nodes)


def _reap(pid: int) -> None:
    # Reap our own child so it does not linger as a zombie; not our child: nothing to do.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
