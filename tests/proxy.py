"""A real nginx in front of test processes, configured by the site file the deploy recipe
ships (deploy/nginx/switchboard.conf).

:class:`Nginx` writes, in a temp dir, the upstream list for the test's ports (what
``deploy/nginx/upstream.conf`` holds in production), the site file with only its
``listen`` line and log paths changed, and a minimal ``nginx.conf`` around it (pid, logs
and temp paths in the temp dir, ``daemon off``, one worker), then runs Debian's
``/usr/sbin/nginx -c <conf> -p <prefix>`` on a free port.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "switchboard.conf"
NGINX = "/usr/sbin/nginx"
TEMPS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_site(site: str, port: int, logs: Path) -> str:
    """The shipped site with its ``listen`` line on 127.0.0.1:``port`` and its logs under
    ``logs``; anything else in it is left as shipped (checked: exactly one of each)."""
    out, listens = re.subn(r"(?m)^(\s*)listen\s+80;", rf"\1listen 127.0.0.1:{port};", site)
    out, access = re.subn(r"(?m)^(\s*)access_log\s+\S+\s+switchboard;",
                          rf"\1access_log {logs / 'access.log'} switchboard;", out)
    out, errors = re.subn(r"(?m)^(\s*)error_log\s+\S+;",
                          rf"\1error_log {logs / 'error.log'} info;", out)
    if (listens, access, errors) != (1, 1, 1):
        raise RuntimeError(f"{SITE} changed shape: expected one `listen 80;`, one access_log "
                           "and one error_log line for tests/proxy.py to render")
    return out


def upstreams(ports: list[int], fail_timeout: str = "5s") -> str:
    return "".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout={fail_timeout};\n"
                   for p in ports)


class Nginx:
    """Debian's nginx proxying to ``ports`` (Switchboard processes on 127.0.0.1)."""

    def __init__(self, ports: list[int], *, site: Path = SITE) -> None:
        if not Path(NGINX).exists():
            raise RuntimeError("nginx is missing: `make test` installs Debian's nginx")
        self.ports = list(ports)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sb-nginx-"))
        self.site = render_site(site.read_text(), self.port, self.dir)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def conf(self) -> Path:
        return self.dir / "nginx.conf"

    @property
    def access_log(self) -> Path:
        return self.dir / "access.log"

    def _write(self) -> None:
        user = ""
        if os.geteuid() == 0:
            # As root the master switches its workers to an unprivileged user; they write
            # to the temp paths and logs, so that user owns the dir (and can reach it:
            # mkdtemp's parent, /tmp, is world-searchable).
            name = "www-data" if _user_exists("www-data") else "nobody"
            user = f"user {name};"
        (self.dir / "switchboard-upstream.conf").write_text(upstreams(self.ports))
        (self.dir / "switchboard.conf").write_text(self.site)
        temps = "\n".join(f"    {t}_temp_path {self.dir / t};" for t in TEMPS)
        self.conf.write_text(f"""{user}
daemon off;
master_process on;
worker_processes 1;
pid {self.dir / 'nginx.pid'};
error_log {self.dir / 'error.log'} info;
events {{ worker_connections 1024; }}
http {{
{temps}
    include {self.dir / 'switchboard.conf'};
    access_log {self.dir / 'access.log'} switchboard;
}}
""")
        for t in TEMPS:
            (self.dir / t).mkdir(exist_ok=True)
        if user:
            pw = pwd.getpwnam(user.split()[1].rstrip(";"))
            for path in [self.dir, *self.dir.iterdir()]:
                os.chown(path, pw.pw_uid, pw.pw_gid)

    def _args(self) -> list[str]:
        # -e: the error log before the configuration is read (else Debian's /var/log/nginx)
        return ["-c", str(self.conf), "-p", f"{self.dir}/", "-e", str(self.dir / "error.log")]

    def test_config(self) -> str:
        """``nginx -t -T``: checks the rendered configuration and dumps it whole."""
        self._write()
        done = subprocess.run([NGINX, "-t", "-T", *self._args()],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nginx refused the configuration:\n{done.stderr}")
        return done.stdout

    def start(self, timeout: float = 30) -> Nginx:
        self._write()
        self._out = (self.dir / "nginx.out").open("w")
        self.proc = subprocess.Popen([NGINX, *self._args()],
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited early:\n{self.errors()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not start:\n{self.errors()}")

    def set_upstreams(self, ports: list[int]) -> None:
        """Point nginx at other processes (a reload: the master re-reads the files)."""
        self.ports = list(ports)
        (self.dir / "switchboard-upstream.conf").write_text(upstreams(self.ports))
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def served_by(self) -> list[str]:
        """The upstream address of each proxied request so far, in order (a retried
        request lists every process it went to: "127.0.0.1:8081, 127.0.0.1:8082")."""
        if not self.access_log.exists():
            return []
        return re.findall(r" upstream=(.*?) upstream_status=", self.access_log.read_text())

    def errors(self) -> str:
        out = ""
        for name in ("nginx.out", "error.log"):
            path = self.dir / name
            if path.exists():
                out += path.read_text()[-4000:]
        return out

    def stop(self, timeout: float = 15) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish open requests
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_out", None) is not None:
            self._out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class Cluster:
    """``n`` Switchboard processes on one PostgreSQL database behind one nginx, as the
    deploy recipe runs them: one secret key, one database URL, ``trusted_proxies`` naming
    nginx (127.0.0.1) and ``public_url`` its URL. The first process starts alone (it
    migrates a new database and seeds the demo shop), the others after it; :attr:`seed` is
    the first's.

    ``kill(i)`` is SIGKILL, ``restart(i)`` starts the same process again on its port
    (same data dir), so nginx finds it back. Blocking: call it in a thread from async
    tests (``asyncio.to_thread``)."""

    def __init__(self, root: Path, database_url: str, n: int = 3, **env: str) -> None:
        import secrets

        from tests.conftest import ServerProcess

        self.servers = [ServerProcess(root / f"p{i}") for i in range(n)]
        self.nginx = Nginx([s.port for s in self.servers])
        common = {"SWITCHBOARD_DATABASE_URL": database_url,
                  "SWITCHBOARD_SECRET_KEY": secrets.token_hex(32),
                  "SWITCHBOARD_TRUSTED_PROXIES": "127.0.0.1/32",
                  "SWITCHBOARD_PUBLIC_URL": self.nginx.url, **env}
        for srv in self.servers:
            srv.env.update(common)

    @property
    def url(self) -> str:
        return self.nginx.url

    @property
    def seed(self) -> dict[str, str]:
        return self.servers[0].seed

    def start(self) -> Cluster:
        try:
            from tests.conftest import start_together

            self.servers[0].start()
            start_together(self.servers[1:])
            for srv in self.servers[1:]:
                srv.seed = self.seed
            self.nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, i: int) -> None:
        self.servers[i].kill()

    def restart(self, i: int) -> None:
        srv = self.servers[i]
        if srv.proc is not None and srv.proc.poll() is None:
            srv.stop()
        srv.start()
        srv.seed = self.seed

    def call(self, method: str, path: str, body: object = None) -> object:
        """A JSON API call through nginx as the seeded admin."""
        from tests.conftest import api_call

        return api_call(self.url, self.seed["api_token"], method, path, body)

    def stop(self) -> None:
        self.nginx.stop()
        for srv in self.servers:
            if srv.proc is not None and srv.proc.poll() is None:
                srv.stop()
            elif getattr(srv, "_log_fh", None) is not None:
                srv._log_fh.close()
