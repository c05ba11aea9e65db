"""`make bench`: the language pipeline's build time and the spaCy extractor alone, written
to results/bench.json (never asserted in tests). The live servers, memory and training are measured by tools/bench_scale.py."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from bot.config import PROJECT_ROOT
from tests.load import percentiles

RESULTS = PROJECT_ROOT / "results" / "bench.json"


def bench_extraction() -> dict:
    from bot.extraction import extract
    from tests.vignettes import load

    # (message, the question it answers): the form reads each answer's cues for its
    # question, as the validation action does.
    messages: list[tuple[str, str | None]] = []
    for v in load():
        messages.append((v["opening"], None))
        for slot, answer in list((v.get("answers") or {}).items()) + list((v.get("facts") or {}).items()):
            messages += [(str(a), slot) for a in (answer if isinstance(answer, list) else [answer])]
    extract("warm up").cue_kinds("bleeding")
    times = []
    for message, slot in messages:
        start = time.perf_counter()
        found = extract(message)
        if slot:
            found.cue_kinds(slot)
        times.append(time.perf_counter() - start)
    return {**percentiles(times), "messages_per_s": round(len(times) / sum(times))}


_BUILD = """
import time
start = time.perf_counter()
from bot import extraction
imported = time.perf_counter()
extraction.pipeline()
built = time.perf_counter()
for scope in ("*", *extraction.QUESTIONS):
    extraction.cue_matcher(scope)
cues = time.perf_counter()
print(imported - start, built - imported, cues - built,
      len(extraction.pipeline().get_pipe("entity_ruler").patterns))
"""


def bench_pipeline_build(runs: int = 3) -> dict:
    """The language pipeline built in a fresh process (YAML loaded and checked, patterns
    compiled, spaCy components added): the start-up cost every process pays once."""
    builds, cues, imports, patterns = [], [], [], 0
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _BUILD], cwd=PROJECT_ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
        imports.append(float(out[0]))
        builds.append(float(out[1]))
        cues.append(float(out[2]))
        patterns = int(out[3])
    return {"build_s_median": round(statistics.median(builds), 3),
            "build_s_runs": [round(b, 3) for b in builds],
            # built on first use, one question at a time, in the action server only
            "cue_matchers_s_median": round(statistics.median(cues), 3),
            "import_s_median": round(statistics.median(imports), 3),
            "entity_patterns": patterns}


def main() -> None:
    results = {"machine": {"cpus": os.cpu_count()}, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
               "pipeline": bench_pipeline_build(), "extraction": bench_extraction()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
