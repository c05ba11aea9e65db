"""The "try the SMS flow locally" steps of docs/sms.md, as written: local stand-in for Twilio,
a discharge registered with the CLI, the patient's reply sent with the CLI, the bot's
answer read on the stand-in's page."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time

import pytest
import requests

from bot.config import PROJECT_ROOT

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def local_sms(migrated_db, tmp_root):
    from bot.stack import Stack, free_port
    from tests.conftest import trained_model

    rasa_port = free_port()
    env = {"SMS_LOCAL_TWILIO": "true", "SMS_LOCAL_TWILIO_PORT": str(free_port()),
           "RASA_PORT": str(rasa_port)}
    stack = Stack(rasa_port=rasa_port, action_port=free_port(), token=secrets.token_hex(16),
                  model=str(trained_model()), env=env, log_dir=tmp_root / "logs-local-sms")
    try:
        page = stack.start_local_twilio(int(env["SMS_LOCAL_TWILIO_PORT"]))
        stack.start()
        yield stack, page, {**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT)}
    finally:
        stack.stop()


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.sms.cli", *args], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def readme_commands() -> list[str]:
    section = (PROJECT_ROOT / "docs" / "sms.md").read_text().split("## Try the SMS flow locally")[1]
    return re.findall(r"^\.venv/bin/python -m bot\.sms\.cli (.+)$", section.split("\n## ")[0],
                      flags=re.MULTILINE)


def test_the_readme_walkthrough_works_as_written(local_sms):
    _, page, env = local_sms
    add, text = readme_commands()[:2]
    added = subprocess.run(f"{sys.executable} -m bot.sms.cli {add}", shell=True, cwd=PROJECT_ROOT,
                           env=env, capture_output=True, text=True, timeout=60,
                           executable="/bin/bash")
    assert added.returncode == 0, added.stderr
    assert "conversation id: sms-" in added.stdout
    sent = subprocess.run(f"{sys.executable} -m bot.sms.cli {text}", shell=True, cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=60,
                          executable="/bin/bash")
    assert sent.returncode == 0, sent.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        inbox = requests.get(page, timeout=10).text
        if "?" in inbox.split("<table>")[1]:
            break
        time.sleep(0.5)
    assert "Reply YES, NO or NOT SURE." in inbox


def test_text_is_refused_outside_local_mode():
    env = {**os.environ, "SMS_LOCAL_TWILIO": "false", "PYTHONPATH": str(PROJECT_ROOT)}
    refused = cli(env, "text", "--from", "07400123456", "hi")
    assert refused.returncode == 1 and "only in local mode" in refused.stderr
