"""One table of defaults (bot.config.DEFAULTS), the same as .env.example documents, and
one loader that every setting goes through."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from bot import config
from bot.config import DEFAULTS, PROJECT_ROOT


def documented() -> dict[str, str]:
    found = {}
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if match:
            assert match[1] not in found, f"{match[1]} is in .env.example twice"
            found[match[1]] = match[2]
    return found


def test_env_example_documents_every_default_with_the_same_value():
    example = documented()
    assert sorted(example) == sorted(DEFAULTS), (
        f"only in .env.example: {sorted(set(example) - set(DEFAULTS))}; "
        f"only in DEFAULTS: {sorted(set(DEFAULTS) - set(example))}")
    differ = {name: (example[name], DEFAULTS[name]) for name in DEFAULTS
              if example[name] != DEFAULTS[name]}
    assert not differ, differ


def test_every_setting_the_code_reads_has_a_default_and_none_is_restated():
    """env("NAME") only: a literal default at a call site would be a second place."""
    files = subprocess.run(["git", "ls-files", "bot", "actions", "tools"], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    unknown, restated = [], []
    for name in files:
        if not name.endswith(".py"):
            continue
        text = (PROJECT_ROOT / name).read_text()
        for match in re.finditer(r"""\benv\((["'])([A-Z_0-9]+)\1(, [^)]+)?\)""", text):
            if match[2] not in DEFAULTS:
                unknown.append((name, match[2]))
            elif match[3] and re.fullmatch(r""", (["'])[^"']*\1""", match[3]):
                restated.append((name, match[2]))
        assert "load_dotenv" not in text or name == "bot/config.py", name
    assert not unknown and not restated, (unknown, restated)


def test_the_environment_wins_then_the_default(monkeypatch):
    monkeypatch.setenv("CONSOLE_PAGE_SIZE", "  ")
    assert config.env("CONSOLE_PAGE_SIZE") == DEFAULTS["CONSOLE_PAGE_SIZE"]  # blank is unset
    monkeypatch.setenv("CONSOLE_PAGE_SIZE", "20")
    assert config.env("CONSOLE_PAGE_SIZE") == "20"
    with pytest.raises(KeyError):
        config.env("NO_SUCH_SETTING")
    with pytest.raises(ValueError):
        config.env("CONSOLE_PAGE_SIZE", "7")  # it has a default: no second one


def test_the_shell_exports_are_the_settings_with_the_derived_ones(monkeypatch):
    monkeypatch.setenv("RASA_PORT", "6100")
    # Set blank, as unset, so that a developer's .env cannot fill them in either.
    monkeypatch.setenv("RASA_URL", "")
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "")
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "")
    monkeypatch.setenv("DEPARTMENT_NAME", "Children's day unit; \"IR\" $HOME")
    out = subprocess.run(["bash", "-c", 'eval "$(python -m bot.config)"; '
                          'printf "%s\\n" "$RASA_URL" "$ACTION_ENDPOINT_URL" "$DEPARTMENT_NAME" '
                          '"${#ACTION_SERVER_TOKEN}" "$SMS_API_PORT"'],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PATH": f"{PROJECT_ROOT}/.venv/bin:{os.environ['PATH']}"}
                         ).stdout.splitlines()
    assert out[0] == "http://127.0.0.1:6100"
    assert out[1] == f"http://localhost:{config.env('ACTION_PORT')}/webhook"
    assert out[2] == "Children's day unit; \"IR\" $HOME"  # quoted: nothing runs or expands
    assert int(out[3]) >= 40 and out[4] == config.env("SMS_API_PORT")


def test_a_relative_sqlite_path_is_the_projects():
    assert config.database_url("sqlite:///var/triage.db") == f"sqlite:///{PROJECT_ROOT}/var/triage.db"
    assert config.database_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert config.database_url("postgresql://u@h/db") == "postgresql://u@h/db"
