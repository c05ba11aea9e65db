"""Every test the hazard log names must exist (so a mitigation is never claimed untested)."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOG = ROOT / "docs" / "safety" / "hazard-log.md"


def named_tests() -> list[tuple[str, str, str]]:
    rows = [line for line in LOG.read_text().splitlines() if re.match(r"\| H\d+ ", line)]
    found = []
    for row in rows:
        hazard = row.split("|")[1].strip()
        for ref in re.findall(r"(tests/[\w/]+\.py)::(\w+)", row.split("|")[-2]):
            found.append((hazard, *ref))
    return found


def test_every_hazard_names_tests():
    hazards = {h for h, _, _ in named_tests()}
    rows = [line for line in LOG.read_text().splitlines() if re.match(r"\| H\d+ ", line)]
    assert len(hazards) == len(rows) >= 10


def test_every_named_test_exists():
    missing = []
    for hazard, path, name in named_tests():
        file = ROOT / path
        functions = {node.name for node in ast.walk(ast.parse(file.read_text()))
                     if isinstance(node, ast.FunctionDef)} if file.exists() else set()
        if name not in functions:
            missing.append(f"{hazard}: {path}::{name}")
    assert not missing, missing
