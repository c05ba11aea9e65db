"""Start and stop the whole local stack: the action server, the Rasa server, the web chat,
the staff console and the SMS worker (and, in SMS local mode, the stand-in for Twilio).

`python -m bot.stack` is what `make run` runs: it starts them all, prints the URLs and
stops everything cleanly on Ctrl-C. Tests use `Stack` directly, on free ports and a
throw-away database, starting only the servers they need.
"""
from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from bot.config import PROJECT_ROOT, env


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range: a port from that range can be
    taken as the local port of some outgoing connection before the server binds it."""
    low = _ephemeral_range()[0]
    for _ in range(200):
        port = random.randrange(10000, low) if low > 10100 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    with socket.socket() as s:  # every try was taken: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except Exception:
        return False


class Stack:
    def __init__(self, *, rasa_port: int, action_port: int, token: str,
                 model: str = "models", env: Optional[dict] = None,
                 log_dir: Optional[Path] = None, web_port: Optional[int] = None) -> None:
        self.rasa_port, self.action_port, self.token, self.model = rasa_port, action_port, token, model
        self.web_port = web_port
        self.env = {**os.environ, **(env or {}),
                    "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
                    "PYTHONPATH": str(PROJECT_ROOT)}
        # The secret Rasa sends the action server (endpoints.yml); a fresh one per start
        # unless the deployment set its own.
        self.env["ACTION_SERVER_TOKEN"] = (self.env.get("ACTION_SERVER_TOKEN", "").strip()
                                           or secrets.token_urlsafe(32))
        self.log_dir = log_dir or PROJECT_ROOT / "var" / "log"
        self.processes: dict[str, subprocess.Popen] = {}
        self.health: dict[str, str] = {}

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.action_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _spawn(self, name: str, args: list[str], env: Optional[dict] = None,
               health_url: Optional[str] = None) -> None:
        """Start a server; `wait_until_up` then waits for `health_url` to answer 200."""
        if health_url:
            self.health[name] = health_url
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            args, cwd=PROJECT_ROOT, env={**self.env, **(env or {})}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def start_actions(self, port: Optional[int] = None) -> None:
        port = port or self.action_port
        self._spawn("actions", [sys.executable, "-m", "bot.action_server"],
                    env={"ACTION_PORT": str(port), "ACTION_HOST": "127.0.0.1"},
                    health_url=f"http://127.0.0.1:{port}/health")

    def start_rasa(self, name: str = "rasa", port: Optional[int] = None,
                   endpoints: str = "endpoints.yml", env: Optional[dict] = None) -> None:
        port = port or self.rasa_port
        # The token goes in the environment: bot.rasa_server keeps it off the command line.
        self._spawn(name, [
            sys.executable, "-m", "bot.rasa_server", "run", "--enable-api",
            "--port", str(port), "--interface", "127.0.0.1",
            "--model", self.model, "--credentials", "credentials.yml",
            "--endpoints", endpoints],
            env={"RASA_TOKEN": self.token, **(env or {})},
            health_url=f"http://127.0.0.1:{port}/status?token={self.token}")

    def start_web(self) -> None:
        if self.web_port is None:
            raise ValueError("start_web needs a web_port")
        self._spawn("web", [sys.executable, "-m", "bot.web"],
                    env={"WEB_PORT": str(self.web_port), "RASA_URL": self.rasa_url},
                    health_url=f"{self.web_url}/healthz")

    def start_local_twilio(self, port: int) -> str:
        """The stand-in for Twilio's API (SMS_LOCAL_TWILIO=true): texts stay on this machine."""
        url = f"http://127.0.0.1:{port}"
        self._spawn("local-twilio", [sys.executable, "-m", "bot.sms.local_twilio"],
                    env={"SMS_LOCAL_TWILIO_PORT": str(port)}, health_url=f"{url}/")
        return url

    def start_console(self, port: int, timeout: float = 60) -> str:
        """The staff console (`python -m bot.console`) on `port`; waits until it answers."""
        url = f"http://127.0.0.1:{port}"
        self._spawn("console", [sys.executable, "-m", "bot.console"],
                    env={"CONSOLE_PORT": str(port)}, health_url=f"{url}/healthz")
        self.wait_until_up(timeout)
        return url

    def start_sms_worker(self, port: int, timeout: float = 60) -> str:
        """The SMS worker (follow-ups, texts, care-team alerts, and the discharge API on
        `port`), talking to this stack's Rasa; waits until it answers. The Twilio webhook
        itself is Rasa's `sms` channel."""
        url = f"http://127.0.0.1:{port}"
        self._spawn("sms", [sys.executable, "-m", "bot.sms.worker"],
                    env={"SMS_API_PORT": str(port), "RASA_URL": self.rasa_url,
                         "RASA_TOKEN": self.token},
                    health_url=f"{url}/healthz")
        self.wait_until_up(timeout)
        return url

    def wait_until_up(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        pending = {name: url for name, url in self.health.items() if name in self.processes}
        while pending and time.monotonic() < deadline:
            for name, url in list(pending.items()):
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} server exited; see {self.log_dir / (name + '.log')}")
                if _healthy(url):
                    del pending[name]
            time.sleep(0.5)
        if pending:
            raise TimeoutError(f"not up after {timeout}s: {', '.join(pending)}")

    def start(self) -> Stack:
        self.start_actions()
        self.start_rasa()
        if self.web_port is not None:
            self.start_web()
        self.wait_until_up()
        return self

    def stop(self, name: Optional[str] = None, sig: int = signal.SIGTERM) -> None:
        """Stop one server (SIGKILL to simulate a crash) or, without a name, all of them."""
        for key in [name] if name else list(reversed(self.processes)):
            process = self.processes.pop(key, None)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def print_console(url: str) -> None:
    print(f"  Staff console:    {url.replace('127.0.0.1', 'localhost')}/  (first account: "
          f"python -m bot.console.cli create-user --role admin NAME)\n", flush=True)


def print_sms(stack: Stack, url: str) -> None:
    from bot.sms.settings import sms_settings

    cfg = sms_settings()
    if cfg.local_twilio:
        print(f"  SMS LOCAL MODE (SMS_LOCAL_TWILIO=true): no text reaches a phone.\n"
              f"  Texts the bot sent: {cfg.api_base_url.replace('127.0.0.1', 'localhost')}/\n"
              f"  Register a discharge: .venv/bin/python -m bot.sms.cli add --phone "
              f"07400123456 --procedure bone_biopsy --at \"$(date -d '-3 hours' '+%Y-%m-%d %H:%M')\"\n"
              f"  Reply as the patient: .venv/bin/python -m bot.sms.cli text --from 07400123456 "
              f"\"hi, the site is a bit sore\"\n", flush=True)
        return
    webhook = cfg.webhook_url or f"{stack.rasa_url.replace('127.0.0.1', 'localhost')}/webhooks/sms/webhook"
    lines = [f"  SMS webhook:      {webhook}  (Twilio: the number's \"A message comes in\", HTTP POST)",
             f"  Discharge API:    POST {url.replace('127.0.0.1', 'localhost')}/api/discharges  "
             f"(Authorization: Bearer $SMS_API_TOKEN)"]
    if not cfg.twilio_configured:
        lines.append("  SMS is off until TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER "
                     "are set in .env")
    if not cfg.api_token:
        lines.append("  The discharge API answers 503 until SMS_API_TOKEN is set in .env")
    if not cfg.webhook_url:
        lines.append("  Set SMS_WEBHOOK_URL to the public URL Twilio posts to (signatures are "
                     "checked against it)")
    print("\n".join(lines) + "\n", flush=True)


def print_alerts() -> None:
    """Care-team alerts run in the SMS worker's passes: say what they will do."""
    from bot.alerts.settings import alert_settings
    from bot.alerts.status import settings_lines

    try:
        cfg = alert_settings()
        lines = settings_lines(cfg)
        if cfg.smtp is None and not cfg.webhook_configured:
            lines.append("no alert reaches anyone yet: set ALERT_SMTP_HOST, ALERT_EMAIL_FROM "
                         "and ALERT_EMAIL_TO, or ALERT_WEBHOOK_URL, in .env")
    except ValueError as error:
        lines = [f"OFF: {error}"]
    print("  Care-team alerts (sent by the SMS worker; python -m bot.alerts status):\n"
          + "\n".join(f"    {line}" for line in lines) + "\n", flush=True)


def serve(stack: Stack, starting: str, banner: Callable[[], str]) -> None:
    """What `make run` and `make run-scaled` do: start `stack`, the staff console and the SMS
    worker, print the banner, and stop everything on Ctrl-C or as soon as any server stops."""
    stopping = False

    def _stop(*_):
        nonlocal stopping
        if not stopping:
            stopping = True
            print("\nStopping...", flush=True)
            stack.stop()
            sys.exit(0)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(starting, flush=True)
    from bot.sms.settings import sms_settings

    local_twilio = sms_settings().local_twilio
    try:
        if local_twilio:
            stack.start_local_twilio(sms_settings().local_twilio_port)
        stack.start()
        console_url = stack.start_console(int(env("CONSOLE_PORT")))
        sms_url = stack.start_sms_worker(int(env("SMS_API_PORT")))
    except Exception as error:
        print(f"error: {error}", file=sys.stderr)
        stack.stop()
        sys.exit(1)
    print(banner(), flush=True)
    print_console(console_url)
    print_sms(stack, sms_url)
    print_alerts()
    while True:
        for name, process in list(stack.processes.items()):
            if process.poll() is not None:
                print(f"error: the {name} server stopped; see {stack.log_dir / (name + '.log')}",
                      file=sys.stderr)
                stack.stop()
                sys.exit(1)
        time.sleep(1)


def main() -> None:
    stack = Stack(rasa_port=int(env("RASA_PORT")), action_port=int(env("ACTION_PORT")),
                  token=env("RASA_TOKEN"), web_port=int(env("WEB_PORT")))
    serve(stack, "Starting the action server, the Rasa server and the web chat (about a minute)...",
          lambda: f"""
Post-biopsy triage bot is running (logs in var/log/). Ctrl-C stops everything.

  Patient web chat: http://localhost:{stack.web_port}/
  Embed it with:    <script src="http://localhost:{stack.web_port}/widget.js" defer></script>
  Chat (REST):      POST {stack.rasa_url}/webhooks/rest/webhook   {{"sender": "me", "message": "hi"}}
  Rasa HTTP API:    {stack.rasa_url}/  (token auth: ?token=$RASA_TOKEN from .env)
  Action server:    {stack.action_url}/health
""")


if __name__ == "__main__":
    main()
