"""PostgreSQL, Redis and nginx for the scaled profile: Debian's packages, loopback only.

Each server keeps its data in a folder of ours (var/scaled/ for `make run-scaled`, a temp
folder in tests), listens on 127.0.0.1 on a port we choose, and is stopped with the profile.
`make services` installs the packages. PostgreSQL refuses to run as root, so when we are root
its commands run as Debian's `postgres` system user.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

MISSING = "{what} is not installed: run `make services` (apt-get install postgresql redis-server nginx)"


def _need(path: Optional[str], what: str) -> str:
    if not path or not Path(path).exists():
        raise RuntimeError(MISSING.format(what=what))
    return path


def _as_service_user(args: list[str], user: str) -> list[str]:
    return ["runuser", "-u", user, "--", *args] if os.geteuid() == 0 else args


def _chown(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        for p in [path, *path.rglob("*")]:
            os.chown(p, entry.pw_uid, entry.pw_gid)


class Postgres:
    """One PostgreSQL cluster in `data_dir`, database `triage`, user `triage`, on `port`."""

    USER = "postgres"  # system user the server runs as when we are root

    def __init__(self, data_dir: Path, port: int) -> None:
        self.root, self.port = Path(data_dir), port
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                          key=lambda p: int(Path(p).parts[-3]))
        self.bin = Path(_need(versions[-1] if versions else None, "PostgreSQL")).parent
        self.password_file = self.root / "password"

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def url(self) -> str:
        return self.url_for("triage")

    def url_for(self, database: str) -> str:
        return f"postgresql://triage:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        done = subprocess.run(_as_service_user([str(self.bin / args[0]), *args[1:]], self.USER),
                              timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode:
            raise RuntimeError(f"PostgreSQL {args[0]} failed ({done.returncode}): "
                               f"{done.stderr.strip()[-2000:]} (log: {self.log})")

    def init(self) -> None:
        """A new cluster on first use; password auth over TCP, trust only on its own socket."""
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the server runs as `postgres`: it must reach its folder
            for folder in self.root.resolve().parents:
                if not folder.stat().st_mode & 0o001:
                    raise RuntimeError(f"{folder} is not searchable by other users, so the "
                                       f"`{self.USER}` user cannot reach {self.root}")
        self.password_file.write_text(secrets.token_urlsafe(24))
        self.password_file.chmod(0o600)
        pwfile = self.root / "initdb-password"
        shutil.copy(self.password_file, pwfile)
        _chown(self.root, self.USER)
        try:
            self._run("initdb", "-D", str(self.data), "-U", "triage", f"--pwfile={pwfile}",
                      "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8",
                      "--locale=C")
        finally:
            pwfile.unlink()
        if os.geteuid() == 0:  # readable by us again (we read it to build the URL)
            os.chown(self.password_file, 0, 0)

    def running(self) -> bool:
        status = subprocess.run(_as_service_user([str(self.bin / "pg_ctl"), "status", "-D",
                                                  str(self.data)], self.USER),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        return status.returncode == 0

    def start(self) -> None:
        """Start the server unless it runs already; make sure database `triage` exists."""
        self.init()
        if self.running():
            self.create_database("triage")
            return
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.data} -c max_connections=400 "
                   "-c fsync=on -c synchronous_commit=on")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")
        self.create_database("triage")

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        """Create database `name` (letters, digits, _) if missing; return its URL."""
        import psycopg2

        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="triage",
                                      password=self.password, dbname="postgres",
                                      connect_timeout=10)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url_for(name)


class Redis:
    """A Redis server for Rasa's lock store: memory only (locks need no persistence)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.root, self.port = Path(data_dir), port
        self.binary = _need(shutil.which("redis-server") or "/usr/bin/redis-server", "Redis")

    def command(self) -> list[str]:
        self.root.mkdir(parents=True, exist_ok=True)
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.root), "--save", "", "--appendonly", "no",
                "--protected-mode", "yes", "--daemonize", "no"]

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping())
        except Exception:
            return False


class Nginx:
    """nginx in front of the Rasa replicas and the action server.

    Rasa's REST channel keeps no state in a process (the tracker store and the Redis lock
    store are shared), so any replica can take any turn. Requests are still hashed on the
    conversation (X-Conversation-Id, which our web chat sends; else the client address):
    socket.io rooms, if that channel is ever enabled, live in one process.
    """

    def __init__(self, conf_dir: Path, *, rasa_port: int, action_port: int,
                 replica_ports: list[int], actions_internal_port: int) -> None:
        self.root = Path(conf_dir)
        self.rasa_port, self.action_port = rasa_port, action_port
        self.replica_ports, self.actions_internal_port = replica_ports, actions_internal_port
        self.binary = _need(shutil.which("nginx") or "/usr/sbin/nginx", "nginx")

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}/nginx-health"

    def command(self) -> list[str]:
        conf = self.write_config()
        return [self.binary, "-c", str(conf), "-p", str(self.root), "-e", str(self.root / "error.log")]

    def write_config(self) -> Path:
        temp = self.root / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        user = ""
        if os.geteuid() == 0:  # workers drop root; they write request bodies to temp/
            user = "user www-data;" if _user_exists("www-data") else "user nobody nogroup;"
            _chown(temp, "www-data" if _user_exists("www-data") else "nobody")
        replicas = "\n".join(f"    server 127.0.0.1:{port} max_fails=3 fail_timeout=5s;"
                             for port in self.replica_ports)
        conf = self.root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(
            user=user, root=self.root, temp=temp, replicas=replicas, rasa_port=self.rasa_port,
            action_port=self.action_port, actions=self.actions_internal_port))
        return conf


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


NGINX_CONF = """# Written by bot/services.py for the scaled profile; edits are overwritten.
{user}
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}

http {{
  server_tokens off;  # no version in the Server header or on error pages
  log_format upstreams '$remote_addr [$time_local] "$request" $status '
                       'conversation=$http_x_conversation_id '
                       'upstream=$upstream_addr upstream_status=$upstream_status '
                       'time=$request_time';
  access_log {root}/access.log upstreams;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  client_max_body_size 1m;
  client_body_buffer_size 1m;  # action calls carry the whole tracker: keep them in memory

  map $http_x_conversation_id $conversation_key {{
    ""      $remote_addr;
    default $http_x_conversation_id;
  }}
  map $http_upgrade $connection_upgrade {{
    default upgrade;
    ""      "";
  }}

  upstream rasa_replicas {{
    hash $conversation_key consistent;
{replicas}
    # Idle connections are closed before Sanic's own 5 s keep-alive timeout does it:
    # a POST on a connection the server just closed would fail with 502.
    keepalive 32;
    keepalive_timeout 4s;
  }}
  upstream action_server {{
    server 127.0.0.1:{actions};
    keepalive 16;
    keepalive_timeout 4s;
  }}

  server {{
    listen 127.0.0.1:{rasa_port};
    location = /nginx-health {{ access_log off; return 200 "ok"; }}
    location / {{
      proxy_pass http://rasa_replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      # A replica that refuses the connection is skipped; a POST it has already
      # received is not re-sent (it may have been processed): the client sees 502.
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 2s;
      proxy_read_timeout 60s;
    }}
  }}

  server {{
    listen 127.0.0.1:{action_port};
    location / {{
      proxy_pass http://action_server;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 2s;
      proxy_read_timeout 60s;
    }}
  }}
}}
"""


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not up after {timeout}s")
