"""The scaled profile: PostgreSQL + Redis lock store + several Rasa replicas behind nginx.

    nginx :RASA_PORT   -> Rasa replicas (hash on the conversation) --+-> PostgreSQL (events,
    nginx :ACTION_PORT -> action server ----------------------------+   our tables)
    Rasa replicas -> Redis (RedisLockStore: one conversation's turns in order, whatever replica)

`python -m bot.scaled` is what `make run-scaled` runs (data in var/scaled/); tests build a
`ScaledStack` on free ports and a temp folder. Clients (web chat, SMS worker, console) see the
same URLs as in the one-process profile: nginx listens on RASA_PORT and ACTION_PORT.
"""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

from bot.config import PROJECT_ROOT, env
from bot.services import Nginx, Postgres, Redis, wait_for
from bot.stack import Stack, free_port, serve

ENDPOINTS = "endpoints.scaled.yml"


class ScaledStack(Stack):
    def __init__(self, *, rasa_port: int, action_port: int, token: str, data_dir: Path,
                 replicas: int = 2, pg_port: Optional[int] = None,
                 redis_port: Optional[int] = None, model: str = "models",
                 env: Optional[dict] = None, log_dir: Optional[Path] = None,
                 web_port: Optional[int] = None, postgres: Optional[Postgres] = None) -> None:
        data_dir = Path(data_dir)
        super().__init__(rasa_port=rasa_port, action_port=action_port, token=token, model=model,
                         env=env, log_dir=log_dir or data_dir / "log", web_port=web_port)
        self.replica_ports = {f"rasa-{i + 1}": free_port() for i in range(replicas)}
        self.actions_internal_port = free_port()
        self.owns_postgres = postgres is None  # a server handed in is stopped by its owner
        self.postgres = postgres or Postgres(data_dir / "postgres", pg_port or free_port())
        self.redis = Redis(data_dir / "redis", redis_port or free_port())
        self.nginx = Nginx(data_dir / "nginx", rasa_port=rasa_port, action_port=action_port,
                           replica_ports=list(self.replica_ports.values()),
                           actions_internal_port=self.actions_internal_port)
        # Rasa's ticket lock lifetime stays at its 60 s default (TICKET_LOCK_LIFETIME): it
        # counts from when a message arrives, so a shorter one lets a message that waited
        # behind a burst run at the same time as the one before it (seen with 15 s: turns
        # lost). The price: a conversation a killed replica held waits up to 60 s.
        self.env.update({"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.redis.port)})

    def replica_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.replica_ports[name]}"

    def start_database(self) -> None:
        self.postgres.start()
        self.env["DATABASE_URL"] = self.postgres.url
        subprocess.run([str(Path(sys.executable).parent / "alembic"), "upgrade", "heads"],
                       cwd=PROJECT_ROOT, env=self.env, check=True, timeout=300)

    def start_redis(self) -> None:
        self._spawn("redis", self.redis.command())
        wait_for(self.redis.ping, 30, "Redis")

    def start_replica(self, name: str) -> None:
        self.start_rasa(name, self.replica_ports[name], endpoints=ENDPOINTS)

    def start_nginx(self) -> None:
        self._spawn("nginx", self.nginx.command(), health_url=self.nginx.health_url)

    def start_actions(self, port: Optional[int] = None) -> None:
        super().start_actions(port or self.actions_internal_port)

    def start(self) -> ScaledStack:
        try:
            self.start_database()
            self.start_redis()
            self.start_actions()
            for name in self.replica_ports:
                self.start_replica(name)
            self.start_nginx()
            if self.web_port is not None:
                self.start_web()
            self.wait_until_up(timeout=300)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, name: Optional[str] = None, sig: int = signal.SIGTERM) -> None:
        super().stop(name, sig)
        if name is None and self.owns_postgres:
            self.postgres.stop()


def main() -> None:
    data_dir = PROJECT_ROOT / env("SCALED_DATA_DIR")
    stack = ScaledStack(
        rasa_port=int(env("RASA_PORT")), action_port=int(env("ACTION_PORT")),
        token=env("RASA_TOKEN"), web_port=int(env("WEB_PORT")),
        data_dir=data_dir, replicas=int(env("SCALED_RASA_REPLICAS")),
        pg_port=int(env("SCALED_POSTGRES_PORT")),
        redis_port=int(env("SCALED_REDIS_PORT")), model="models/triage.tar.gz")
    replicas = ", ".join(f"{name} :{port}" for name, port in stack.replica_ports.items())
    serve(stack, f"Starting PostgreSQL, Redis, {len(stack.replica_ports)} Rasa replicas, the action "
                 "server and nginx (a minute or two)...", lambda: f"""
Post-biopsy triage bot, scaled profile (data and logs in {data_dir}). Ctrl-C stops everything.

  Patient web chat: http://localhost:{stack.web_port}/
  Chat (REST):      POST {stack.rasa_url}/webhooks/rest/webhook  (nginx -> {replicas})
  Action server:    {stack.action_url}/health  (nginx -> :{stack.actions_internal_port})
  PostgreSQL:       postgresql://triage:***@127.0.0.1:{stack.postgres.port}/triage
                    (password in {stack.postgres.password_file})
  Redis lock store: 127.0.0.1:{stack.redis.port}
""")


if __name__ == "__main__":
    main()
