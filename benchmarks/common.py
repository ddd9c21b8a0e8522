"""What every benchmark shares: the machine line, percentiles, free ports, server processes and their memory."""

from __future__ import annotations

import contextlib
import os
import platform
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

LIBRARIES = ("starlette", "uvicorn", "httptools", "rq", "redis", "SQLAlchemy", "twilio")


def machine() -> str:
    """One line: cores, memory, OS, Python and the versions of the libraries on the hot paths."""
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB memory"
    versions = []
    for name in LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{name} {metadata.version(name)}")
    return f"{os.cpu_count()} cores{memory}, {platform.platform()}, Python {platform.python_version()}; " + ", ".join(
        versions
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any hotline, Twilio, Redis or database setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_", "REDIS_", "DATABASE_"))}
    env.update(extra)
    return env


def hotline(env: dict[str, str], *args: str) -> None:
    """Run one `hotline` command to its end; its output is kept unless it fails."""
    done = subprocess.run([sys.executable, "-m", "hotline", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"hotline {' '.join(args)} failed:\n{done.stderr[-2000:]}")


@contextlib.contextmanager
def process(
    args: Sequence[str],
    env: dict[str, str],
    *,
    ready_url: str | None = None,
    log: Path | None = None,
    stop: signal.Signals = signal.SIGINT,
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in its own session, stopped with `stop` (then SIGKILL) on the way out.

    With `ready_url`, waits (at most 60 s) until a GET on it answers. Its output goes to `log`, if given.
    """
    with contextlib.ExitStack() as files:
        out = files.enter_context(log.open("ab")) if log is not None else subprocess.DEVNULL
        child = subprocess.Popen(list(args), env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        if ready_url is not None:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(ready_url, timeout=2).close()
                    break
                except OSError:
                    if child.poll() is not None or time.monotonic() > deadline:
                        where = f"; see {log.name}" if log is not None else ""
                        raise SystemExit(f"{' '.join(args[:4])} did not start{where}") from None
                    time.sleep(0.1)
        yield child
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, stop)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)


def fresh_install(tmp: str, count: int, **extra_env: str) -> tuple[Path, int, dict[str, str]]:
    """A data dir on a free loopback port, with one liaison and `count` residents of theirs (+86138001300NN),
    registered through `hotline import residents`.

    Returns:
        The data dir, the port, and the environment for `hotline` commands.
    """
    data_dir = Path(tmp) / "var"
    port = free_port()
    env = clean_env(HOTLINE_DATA_DIR=str(data_dir), HOTLINE_PUBLIC_URL=f"http://127.0.0.1:{port}", **extra_env)
    hotline(env, "liaisons", "add", "--name", "张敏", "--phone", "13912345678")
    register_file = Path(tmp) / "residents.csv"
    rows = [f"居民{i},1380013{i:04d},13912345678" for i in range(count)]
    register_file.write_text("姓名,电话,联络员电话\n" + "\n".join(rows) + "\n", encoding="utf-8")
    hotline(env, "import", "residents", str(register_file))
    return data_dir, port, env


def peak_rss_mb(pid: int) -> float:
    """A live process's peak resident set (VmHWM, Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmHWM for process {pid}")


def verdict(ok: bool) -> str:
    return "**pass**" if ok else "**miss**"


@dataclass(frozen=True)
class Finding:
    """One line of the summary table: a figure against its target."""

    bench: str  # B1…B6
    what: str
    figure: str
    target: str
    ok: bool

    def row(self) -> str:
        return f"| {self.bench} | {self.what} | {self.figure} | {self.target} | {verdict(self.ok)} |"


@dataclass(frozen=True)
class Reported(Finding):
    """A summary line with a figure and no target of its own (a cost, reported): its verdict column says so."""

    def row(self) -> str:
        return f"| {self.bench} | {self.what} | {self.figure} | {self.target} | reported |"


@contextlib.contextmanager
def postgres_cluster(max_connections: int = 200) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a unix socket in a temp dir, as `scripts/with-postgres` makes one (but
    with PostgreSQL's own fsync setting); stopped and removed on the way out. Yields its SQLAlchemy URL."""
    root = Path(tempfile.mkdtemp(prefix="hlpg-bench."))
    as_owner: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: the cluster belongs to nobody
        os.chown(root, pwd.getpwnam("nobody").pw_uid, -1)
        as_owner = ["runuser", "-u", "nobody", "--"]
    data = root / "data"
    try:
        subprocess.run(
            [*as_owner, "initdb", "-D", str(data), "-U", "hotline", "--auth=trust"], capture_output=True, check=True
        )
        options = f"-k {root} -c listen_addresses= -c max_connections={max_connections}"
        subprocess.run(
            [*as_owner, "pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start"],
            capture_output=True,
            check=True,
        )
        yield f"postgresql+psycopg://hotline@/postgres?host={root}"
    finally:
        subprocess.run([*as_owner, "pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


NGINX = "/usr/sbin/nginx"
NGINX_CONF = """worker_processes auto;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream hotline_web {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 6m;
        location / {{
            proxy_pass http://hotline_web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
        }}
    }}
}}
"""


@contextlib.contextmanager
def load_balancer(root: Path, port: int, upstreams: Sequence[int]) -> Iterator[subprocess.Popen[bytes]]:
    """nginx on loopback `port` in front of the web processes on `upstreams`: deploy/nginx/hotline.conf's upstream
    and proxy settings, plain HTTP (no TLS on loopback). Ready when a GET /healthz through it answers."""
    root.mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in upstreams)
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, servers=servers, port=port), encoding="utf-8")
    args = [NGINX, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")]
    with process(args, {**os.environ}, ready_url=f"http://127.0.0.1:{port}/healthz") as nginx:
        yield nginx
