"""The API against its own OpenAPI document: schemathesis 4 (``st run --checks all``, every
phase, the stateful one included) against a real server with the demo shop, as the admin,
with a bounded number of examples and a fixed seed, reports no failure.

What the run allows beyond schemathesis' defaults is in ``schemathesis.toml`` beside this
file, each entry with its reason. On a failure the test prints schemathesis' own report
(each failure with a curl line to reproduce it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from channels.signing import sign
from tests.conftest import ServerProcess

HERE = Path(__file__).resolve().parent
ST = Path(sys.executable).with_name("st")
EXAMPLES = os.environ.get("SB_SCHEMATHESIS_EXAMPLES", "15")


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_schemathesis_finds_no_failure(tmp_path: Path, db: str,
                                       request: pytest.FixtureRequest) -> None:
    env = {}
    if db == "postgres":  # it refuses what SQLite keeps: NUL, an over-long varchar
        pg = request.getfixturevalue("postgres")
        env["SWITCHBOARD_DATABASE_URL"] = pg.create_db(migrated=True)
    server = ServerProcess(tmp_path / "data", **env).start()
    try:
        config = _with_a_conversation(server, tmp_path)
        run = subprocess.run(
            [str(ST), "--config-file", str(config), "run",
             f"{server.url}/api/v1/openapi.json", "--checks", "all",
             "--phases", "examples,coverage,fuzzing,stateful",
             "-H", f"Authorization: Bearer {server.seed['api_token']}",
             "--max-examples", EXAMPLES, "--seed", "19", "--workers", "2",
             "--generation-database", "none", "--no-color", "--request-timeout", "30",
             # NUL is dropped on the way in, before lengths are checked (the document
             # says so; JSON Schema cannot): a label of NULs only is then too short
             "--generation-allow-x00", "false"],
            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    finally:
        server.stop()
    (tmp_path / "schemathesis.txt").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, f"see {tmp_path / 'schemathesis.txt'}:\n" + _failures(run.stdout)
    assert "No issues found" in run.stdout or " passed" in run.stdout
    assert "Server error" not in run.stdout
    # no request ended in the API's catch-all (the background runners' own logs aside)
    assert "unhandled error" not in server.output, server.output[-5000:]


def _failures(report: str) -> str:
    """The report's failures section, long bodies cut (a case can be 300 kB)."""
    part = report.split("FAILURES", 1)[-1].split("WARNINGS", 1)[0]
    return "\n".join(line[:400] for line in part.splitlines())[-20000:] or report[-5000:]


def _with_a_conversation(server: ServerProcess, tmp_path: Path) -> Path:
    """A conversation (a signed inbound message, a note, a reply), and the run's config
    with its ids fixed, so that the operations on a conversation, a message and a note
    reach one that exists (schemathesis cannot sign an inbound message itself)."""
    body = json.dumps({"external_id": "st-1", "text": "where is my parcel?",
                       "contact": {"external_id": "st-ann", "name": "Ann"}}).encode()
    req = urllib.request.Request(
        f"{server.url}/api/v1/inbound/{server.seed['api_account']}", data=body,
        headers={"X-Switchboard-Signature": sign(server.seed["secret"], body),
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        conversation = json.loads(resp.read())["conversation_id"]
    note = server.call("POST", f"/api/v1/conversations/{conversation}/notes", {"text": "VIP"})
    reply = server.call("POST", f"/api/v1/conversations/{conversation}/reply", {"text": "Hi"})
    config = tmp_path / "schemathesis.toml"
    config.write_text((HERE / "schemathesis.toml").read_text() + (
        f'\n[parameters]\n"path.conversation_id" = {conversation}\n'
        f'"path.message_id" = {reply["id"]}\n"path.note_id" = {note["id"]}\n'))
    return config
