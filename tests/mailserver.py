"""A real mail system for tests: Debian's Postfix (SMTP in) delivering over LMTP to
Dovecot (IMAP out), on 127.0.0.1, with its own configuration, queue and mail folders
under a temporary directory, so nothing of the machine's own mail setup is touched.

Domains ``shop.test`` and ``customer.test`` are delivered locally. Users are added with
:meth:`MailServer.add_user`; an address nobody has is refused by Dovecot at delivery,
and Postfix sends the sender a real bounce (a DSN).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import imaplib
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time
from email.message import EmailMessage, Message
from pathlib import Path

from tests.conftest import free_port

DOMAINS = ("shop.test", "customer.test")


class MailServer:
    def __init__(self) -> None:
        for tool in ("/usr/sbin/postfix", "/usr/sbin/dovecot"):
            if not Path(tool).exists():
                raise RuntimeError(f"{tool} is missing: `make test` installs Debian's "
                                   f"postfix, dovecot-imapd and dovecot-lmtpd")
        if os.geteuid() != 0:
            raise RuntimeError("the test mail server needs root (as in CI) to start Postfix")
        self.dir = Path(tempfile.mkdtemp(prefix="sb-mail-"))
        os.chmod(self.dir, 0o755)
        self.smtp_port, self.imap_port, self.lmtp_port = (free_port() for _ in range(3))
        self.users: dict[str, str] = {}
        self.mail = pwd.getpwnam("mail")

    # --- configuration --------------------------------------------------------------------

    def _dovecot_conf(self) -> Path:
        d = self.dir / "dovecot"
        (d / "run").mkdir(parents=True)
        mail = self.dir / "maildirs"
        mail.mkdir()
        os.chown(mail, self.mail.pw_uid, self.mail.pw_gid)
        (d / "users").write_text("")
        conf = d / "dovecot.conf"
        conf.write_text(f"""
base_dir = {d}/run
state_dir = {d}/state
listen = 127.0.0.1
protocols = imap lmtp
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {d}/dovecot.log
first_valid_uid = {self.mail.pw_uid}
mail_location = maildir:{mail}/%d/%n
mail_uid = {self.mail.pw_uid}
mail_gid = {self.mail.pw_gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={self.mail.pw_uid} gid={self.mail.pw_gid} home={mail}/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@shop.test
}}
""")
        (d / "state").mkdir()
        return conf

    def _postfix_conf(self) -> Path:
        d = self.dir / "postfix"
        d.mkdir()
        queue = self.dir / "queue"
        queue.mkdir()
        (self.dir / "pfdata").mkdir()
        shutil.chown(self.dir / "pfdata", "postfix")
        (d / "main.cf").write_text(f"""
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {self.dir}/pfdata
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.shop.test
mydomain = shop.test
myorigin = shop.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = {' '.join(DOMAINS)}
virtual_transport = lmtp:inet:127.0.0.1:{self.lmtp_port}
maillog_file = {self.dir}/postfix.log
maillog_file_prefixes = {self.dir}
smtputf8_enable = yes
bounce_queue_lifetime = 0
maximal_queue_lifetime = 1h
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
alias_maps =
alias_database =
local_recipient_maps =
""")
        master = Path("/etc/postfix/master.cf").read_text() if Path(
            "/etc/postfix/master.cf").exists() else Path(
            "/usr/share/postfix/master.cf.dist").read_text()
        lines = [ln for ln in master.splitlines() if not ln.startswith("smtp      inet")]
        lines.insert(0, f"127.0.0.1:{self.smtp_port} inet n - n - - smtpd")
        lines.append("postlog   unix-dgram n  -       n       -       1       postlogd")
        (d / "master.cf").write_text("\n".join(dict.fromkeys(lines)) + "\n")
        return d

    def start(self) -> MailServer:
        conf = self._dovecot_conf()
        self.dovecot_conf = conf
        self._daemon("/usr/sbin/dovecot", "-c", str(conf))
        self.postfix_dir = self._postfix_conf()
        self._daemon("/usr/sbin/postfix", "-c", str(self.postfix_dir), "start")
        self._wait(self.smtp_port)
        self._wait(self.imap_port)
        return self

    def _daemon(self, *cmd: str) -> None:
        """Run a command that leaves a daemon behind: its output goes to a file, since
        the daemon keeps any pipe open and a reader would wait forever."""
        with (self.dir / "start.log").open("ab") as out:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                  timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n"
                               f"{(self.dir / 'start.log').read_text(errors='replace')}")

    @staticmethod
    def _wait(port: int) -> None:
        import socket

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")

    def stop(self) -> None:
        for cmd in (["/usr/sbin/postfix", "-c", str(self.postfix_dir), "stop"],
                    ["/usr/bin/doveadm", "-c", str(self.dovecot_conf), "stop"]):
            subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        time.sleep(0.3)
        shutil.rmtree(self.dir, ignore_errors=True)

    def add_user(self, address: str, password: str = "secret") -> str:
        self.users[address] = password
        # Dovecot rereads the file when its inode or mtime changes; a rewrite within the
        # same second can go unnoticed, so write a new file and give it a later mtime.
        users = self.dovecot_conf.parent / "users"
        fresh = users.with_suffix(".new")
        fresh.write_text("".join(f"{a}:{{PLAIN}}{p}\n" for a, p in self.users.items()))
        self._stamp = max(getattr(self, "_stamp", 0) + 1, int(time.time()) + 1)
        os.utime(fresh, (self._stamp, self._stamp))
        fresh.replace(users)
        # Dovecot looks at the file at most once a second: wait until it knows the user.
        deadline = time.monotonic() + 5
        while True:
            try:
                box = imaplib.IMAP4("127.0.0.1", self.imap_port)
                try:
                    box.login(address, password)
                    box.logout()
                    return address
                finally:
                    with contextlib.suppress(Exception):
                        box.shutdown()
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def log(self) -> str:
        parts = []
        for f in (self.dir / "postfix.log", self.dovecot_conf.parent / "dovecot.log"):
            if f.exists():
                parts.append(f.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    # --- what a customer's mail client does ------------------------------------------------

    def send(self, mail: EmailMessage) -> None:
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=20) as s:
            s.send_message(mail)

    def inbox(self, address: str) -> list[Message]:
        """Every mail in the user's INBOX, oldest first (read over IMAP)."""
        box = imaplib.IMAP4("127.0.0.1", self.imap_port)
        try:
            box.login(address, self.users[address])
            box.select("INBOX")
            _, data = box.uid("search", None, "ALL")  # type: ignore[arg-type]
            out = []
            for uid in (data[0] or b"").split():
                _, parts = box.uid("fetch", uid.decode(), "(BODY.PEEK[])")
                raw = next(p[1] for p in parts if isinstance(p, tuple))
                out.append(email.message_from_bytes(raw, policy=email.policy.default))
            return out
        finally:
            box.logout()

    def wait_for(self, address: str, count: int, timeout: float = 20) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.inbox(address)
            if len(got) >= count or time.monotonic() > deadline:
                if len(got) < count:
                    raise AssertionError(f"{address} has {len(got)} mails, wanted {count}:\n"
                                         f"{self.log()}")
                return got
            time.sleep(0.2)
