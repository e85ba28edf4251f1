"""Issue 20, point 7: the deploy recipe under deploy/ holds together.

Docker is not available on the machines these tests run on, so deploy/compose.yaml is
checked as a file: valid YAML, its processes the ones nginx's upstream list names, on the
port they listen on, with one database and one secret key, nginx mounting the very site
file the proxy tests run (tests/app/test_proxy.py). The systemd unit goes through
``systemd-analyze verify``; the site file through ``nginx -t`` as the tests render it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from config import Settings
from tests.proxy import SITE, Nginx, render_site

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def test_compose_processes_match_the_nginx_upstreams() -> None:
    services = compose()["services"]
    processes = {name: s for name, s in services.items() if name.startswith("switchboard-")}
    assert len(processes) >= 2
    upstream = (DEPLOY / "nginx" / "upstream.compose.conf").read_text()
    listed = re.findall(r"(?m)^server ([\w.-]+):(\d+)", upstream)
    assert {host for host, _ in listed} == set(processes)
    envs = [s["environment"] for s in processes.values()]
    for env, (_, port) in zip(envs, sorted(listed), strict=True):
        assert env["SWITCHBOARD_PORT"] == port
        assert env["SWITCHBOARD_HOST"] == "0.0.0.0"
        assert env["SWITCHBOARD_DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in env["SWITCHBOARD_DATABASE_URL"]
    # one database, one secret key, one data dir for all processes
    for key in ("SWITCHBOARD_DATABASE_URL", "SWITCHBOARD_SECRET_KEY", "SWITCHBOARD_DATA_DIR",
                "SWITCHBOARD_TRUSTED_PROXIES", "SWITCHBOARD_PUBLIC_URL"):
        assert len({env[key] for env in envs}) == 1, key
    assert "postgres" in services


def test_compose_nginx_runs_the_site_file_and_is_trusted() -> None:
    services = compose()["services"]
    nginx = services["nginx"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in nginx["volumes"])
    assert mounts["./nginx/switchboard.conf"].startswith("/etc/nginx/conf.d/")
    # switchboard.conf includes switchboard-upstream.conf, relative to nginx.conf's folder
    assert "include switchboard-upstream.conf;" in SITE.read_text()
    assert mounts["./nginx/upstream.compose.conf"] == "/etc/nginx/switchboard-upstream.conf"
    for source in mounts:
        assert (DEPLOY / source).is_file(), source
    address = nginx["networks"]["default"]["ipv4_address"]
    trusted = services["switchboard-1"]["environment"]["SWITCHBOARD_TRUSTED_PROXIES"]
    assert trusted == f"{address}/32"


def test_site_file_matches_the_settings_defaults() -> None:
    """nginx's body limit is the max_body_bytes setting's default (a larger body would
    pass nginx only to get 413 from the process, or the other way round)."""
    site = SITE.read_text()
    body = re.search(r"(?m)^    client_max_body_size (\d+)k;", site)
    assert body and int(body.group(1)) * 1024 == Settings().max_body_bytes
    upload = re.search(r"location = /media \{\s*client_max_body_size (\d+)m;", site)
    assert upload and int(upload.group(1)) * 1024 * 1024 == Settings().max_upload_bytes
    # a web chat visitor's file: attachment_max_bytes and the form around it, so the
    # process (not nginx) refuses a larger one, with a message the widget shows
    chat = re.search(r"location = /chat/upload \{\s*client_max_body_size (\d+)m;", site)
    files = Settings().attachment_max_bytes
    assert chat and files < int(chat.group(1)) * 1024 * 1024 <= files + 1024 * 1024
    # nginx passes no request on once sent unless told: it must not be told
    assert "non_idempotent" not in re.sub(r"(?m)#.*$", "", site)


def test_rendered_site_is_the_shipped_one_and_nginx_accepts_it() -> None:
    """The tests change the listen line and the log paths, nothing else."""
    shipped = SITE.read_text().splitlines()
    rendered = render_site(SITE.read_text(), 18080, Path("/tmp/x")).splitlines()
    changed = [(a, b) for a, b in zip(shipped, rendered, strict=True) if a != b]
    assert [a.split()[0] for a, _ in changed] == ["listen", "access_log", "error_log"]
    dump = Nginx([18081, 18082, 18083]).test_config()
    assert "server 127.0.0.1:18083" in dump


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on an instance of the template (ExecStart's interpreter
    pointed at this one: /opt/switchboard does not exist here). It exits 0 on unknown
    keys, so any line it prints fails the test."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian's systemd package)"
    unit = (DEPLOY / "systemd" / "switchboard@.service").read_text()
    assert "ExecStart=/opt/switchboard/.venv/bin/python run.py serve" in unit
    (tmp_path / "switchboard@.service").write_text(
        unit.replace("/opt/switchboard/.venv/bin/python", sys.executable))
    (tmp_path / "switchboard@8081.service").symlink_to("switchboard@.service")
    done = subprocess.run([analyze, "verify", "--man=no",
                           str(tmp_path / "switchboard@8081.service")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), \
        done.stdout + done.stderr
    # the stop timeout leaves the graceful stop its shutdown_timeout, with room
    stop = re.search(r"(?m)^TimeoutStopSec=(\d+)$", unit)
    assert stop and int(stop.group(1)) >= 2 * Settings().shutdown_timeout
    # the ports nginx's upstream.conf lists are instances' ports
    ports = re.findall(r"(?m)^server 127\.0\.0\.1:(\d+)",
                       (DEPLOY / "nginx" / "upstream.conf").read_text())
    assert ports and set(ports) == set(re.findall(r"switchboard@(\d+)", unit))
