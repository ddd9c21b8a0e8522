"""Real nginx, running the repository's own deploy/nginx/hotline.conf, in front of two `hotline serve` processes,
one `hotline worker`, one redis-server and one database: the pieces of tests/test_proxy.py.

The config is rendered for a test by substituting only the upstream addresses, the listen ports and the certificate
paths, and wrapped in a minimal top-level nginx config whose files all live in the test's directory."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx

from hotline.embedded_redis import EmbeddedRedis
from tests.chaos.cluster import Child, free_port

NGINX = "/usr/sbin/nginx"
CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "hotline.conf"
HOST = "hotline.example.org"
PUBLIC_URL = f"https://{HOST}"
AUTH_TOKEN = "proxy-auth-token-0123456789abcdef"
CLIENT_ADDRESS = "127.0.0.2"  # where the test's requests come from: loopback, but not an address uvicorn trusts
# One uvicorn access line: `INFO:     127.0.0.1:5678 - "POST /twilio/sms HTTP/1.1" 200 OK`
ACCESS_LINE = re.compile(r'INFO:\s+(\S+) - "(\S+) (\S+) HTTP/[\d.]+" (\d{3})')


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for HOST (also its own CA, for the client to verify against)."""
    cert, key = directory / "hotline.crt", directory / "hotline.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={HOST}",
            "-addext",
            f"subjectAltName=DNS:{HOST}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def _replace_once(text: str, pattern: str, replacement: str) -> str:
    found = re.findall(pattern, text, flags=re.MULTILINE)
    assert len(found) == 1, f"{CONF.name}: expected exactly one match of {pattern!r}, found {len(found)}"
    return re.sub(pattern, replacement, text, flags=re.MULTILINE)


def render_site(
    conf: str, upstreams: list[int], http_port: int, https_port: int, cert: Path, key: Path, log: Path
) -> str:
    """deploy/nginx/hotline.conf with loopback upstreams and listen ports, the test certificate and the test's
    access log; nothing else."""
    block = re.search(r"^upstream hotline_web \{\n.*?^\}", conf, flags=re.MULTILINE | re.DOTALL)
    assert block, f"{CONF.name}: no `upstream hotline_web {{ … }}` block"
    servers = re.findall(r"^(\s*server\s+)\S+", block.group(0), flags=re.MULTILINE)
    assert len(servers) == len(upstreams), f"{CONF.name}: {len(servers)} upstream servers, the test runs {upstreams}"
    ports = iter(upstreams)
    rendered_block = re.sub(
        r"^(\s*server\s+)\S+", lambda m: f"{m.group(1)}127.0.0.1:{next(ports)}", block.group(0), flags=re.MULTILINE
    )
    conf = conf.replace(block.group(0), rendered_block)
    conf = _replace_once(conf, r"^(\s*)listen\s+80;", rf"\g<1>listen 127.0.0.1:{http_port};")
    conf = _replace_once(conf, r"^(\s*)listen\s+443\s+ssl;", rf"\g<1>listen 127.0.0.1:{https_port} ssl;")
    # The test's own access log (it names the upstream of each request) in place of the site's.
    conf = _replace_once(conf, r"^(\s*)access_log\s+\S+\s+hotline;", rf"\g<1>access_log {log} upstreams;")
    conf = _replace_once(conf, r"^(\s*ssl_certificate\s+)\S+;", rf"\g<1>{cert};")
    return _replace_once(conf, r"^(\s*ssl_certificate_key\s+)\S+;", rf"\g<1>{key};")


def wrap(site: str, root: Path) -> str:
    """A top-level config of our own: in the foreground, every file under `root`, the site inside http{}.

    nginx's access log names the upstream(s) each request went to: a witness besides the web processes' own logs."""
    # As root (CI), workers would drop to `nobody`, which cannot enter pytest's private temp dirs.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "\n".join(
        f"    {kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off;\nworker_processes 1;\n{user}pid {root / 'nginx.pid'};\nerror_log {root / 'error.log'} notice;\n"
        "events { worker_connections 128; }\n"
        "http {\n"
        "    log_format upstreams '$request $status upstream=$upstream_addr statuses=$upstream_status';\n"
        f"    access_log {root / 'access.log'} upstreams;\n{temps}\n"
        f"{site}\n}}\n"
    )


@dataclass
class Nginx:
    root: Path
    config: Path
    https_port: int
    http_port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.root / "stderr.log", "ab") as out:
            self.process = subprocess.Popen(
                [NGINX, "-p", str(self.root), "-c", str(self.config), "-e", str(self.root / "error.log")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: listening(self.https_port) or self.process.poll() is not None, 30, "nginx listening")  # type: ignore[union-attr]
        assert self.process.poll() is None, "nginx exited:\n" + (self.root / "error.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)  # fast shutdown; the group holds its worker too
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def access_lines(self) -> list[str]:
        path = self.root / "access.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []


class LoopbackTLS(httpx.HTTPTransport):
    """Connects to 127.0.0.1 but names HOST in the TLS handshake (SNI), so the certificate is verified for HOST."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions = {**request.extensions, "sni_hostname": HOST}
        return super().handle_request(request)


def https_client(port: int, cert: Path, source: str = CLIENT_ADDRESS) -> httpx.Client:
    """A client of nginx's TLS port, as a browser of https://hotline.example.org would be (Host and SNI)."""
    context = ssl.create_default_context(cafile=str(cert))  # verifies the chain and the name HOST
    return httpx.Client(
        base_url=f"https://127.0.0.1:{port}",
        headers={"Host": HOST},
        transport=LoopbackTLS(verify=context, local_address=source),
        timeout=15,
    )


def access_log(child: Child) -> list[tuple[str, str, str, int]]:
    """(client, method, path, status) of every request a web process has logged."""
    text = child.log.read_text(errors="replace") if child.log.exists() else ""
    return [(m[1], m[2], m[3], int(m[4])) for m in ACCESS_LINE.finditer(text)]


@dataclass
class Stack:
    """redis-server, two web processes, a worker and nginx; `env` is every hotline process's environment."""

    root: Path
    database_url: str
    redis_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hl-px-")))  # short: a socket path
    env: dict[str, str] = field(default_factory=dict)
    webs: list[Child] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    worker: Child | None = None
    nginx: Nginx | None = None
    cert: Path = Path()
    redis: EmbeddedRedis | None = None

    def environment(self, **overrides: str) -> dict[str, str]:
        return {**self.env, **overrides}

    def start(self) -> None:
        self.redis = EmbeddedRedis(self.redis_dir)
        self.redis.start()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOTLINE_DATA_DIR": str(self.root / "var"),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "HOTLINE_GATEWAY": "local",
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": "+8657112345678",
            "HOTLINE_PUBLIC_URL": PUBLIC_URL,
            "HOTLINE_DUTY_PHONE": "+8657187654321",
            "HOTLINE_SECRET_KEY": "proxy-secret-key-0123456789abcdef0123456789",
            "HOTLINE_SMS_PER_SECOND": "0",
            # As DEPLOY.md says for nginx on the same machine: where nginx connects from. Unset, nobody is trusted.
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
        }
        subprocess.run(
            [sys.executable, "-m", "hotline", "db", "upgrade"],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start_processes(self) -> None:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.ports = [free_port(), free_port()]
        self.webs = [
            Child(f"web{i}", ["serve", "--port", str(port)], logs / f"web{i}.log") for i, port in enumerate(self.ports)
        ]
        self.worker = Child("worker", ["worker"], logs / "worker.log")
        for child in [*self.webs, self.worker]:
            child.start(self.env)
        # nginx meanwhile: its own ports and certificate, the repository's site config
        nginx_root = self.root / "nginx"
        nginx_root.mkdir()
        self.cert, key = make_certificate(nginx_root)
        https_port, http_port = free_port(), free_port()
        site = render_site(
            CONF.read_text(), self.ports, http_port, https_port, self.cert, key, nginx_root / "access.log"
        )
        config = nginx_root / "nginx.conf"
        config.write_text(wrap(site, nginx_root))
        self.nginx = Nginx(nginx_root, config, https_port, http_port)
        for port, web in zip(self.ports, self.webs, strict=True):
            wait_until(lambda p=port: listening(p), 60, f"{web.name} listening (see {web.log})")  # type: ignore[misc]
        self.nginx.start()

    def restart_web(self, index: int, **overrides: str) -> None:
        web = self.webs[index]
        web.kill()
        web.start(self.environment(**overrides))
        wait_until(lambda: listening(self.ports[index]), 60, f"{web.name} listening again (see {web.log})")

    def client(self) -> httpx.Client:
        assert self.nginx is not None
        return https_client(self.nginx.https_port, self.cert)

    def stop(self) -> None:
        """Everything down, whatever state it is in; nothing of ours left running."""
        steps: list[Callable[[], object]] = [web.kill for web in self.webs]  # SIGKILL
        if self.worker is not None:
            steps.append(functools.partial(self.worker.kill, signal.SIGTERM))
        steps += [step for step in (self.nginx and self.nginx.stop, self.redis and self.redis.stop) if step]
        errors: list[BaseException] = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # stop the rest anyway
                errors.append(exc)
        shutil.rmtree(self.redis_dir, ignore_errors=True)
        if errors:
            raise errors[0]


def served(webs: list[Child], send: Callable[[], httpx.Response], timeout: float = 30) -> tuple[Any, list[int]]:
    """Do one request; return its answer and which web process logged it (1 for that one, 0 for the others),
    found by the request id the answer carries (`X-Request-ID`) on that process's access line. A process writes
    the line once the answer is sent, so an earlier request's line may land while this one runs: only this
    request's own id counts."""
    answer = send()
    tag = f" id={answer.headers['x-request-id']}"

    def logged_by() -> list[int]:
        return [int(tag in (web.log.read_text(errors="replace") if web.log.exists() else "")) for web in webs]

    wait_until(lambda: sum(logged_by()) > 0, timeout, "the request's access line")
    return answer, logged_by()
