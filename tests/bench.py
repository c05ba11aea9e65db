"""`make bench`: the spaCy extractor alone, written to results/bench.json (never asserted
in tests). The live servers, memory and training are measured by tests/bench_scale.py."""
from __future__ import annotations

import json
import os
import time

from bot.config import PROJECT_ROOT
from tests.load import percentiles

RESULTS = PROJECT_ROOT / "results" / "bench.json"


def bench_extraction() -> dict:
    from bot.extraction import extract
    from tests.vignettes import load

    messages = []
    for v in load():
        messages.append(v["opening"])
        for answer in list((v.get("answers") or {}).values()) + list((v.get("facts") or {}).values()):
            messages += answer if isinstance(answer, list) else [str(answer)]
    extract("warm up")
    times = []
    for message in messages:
        start = time.perf_counter()
        extract(message)
        times.append(time.perf_counter() - start)
    return {**percentiles(times), "messages_per_s": round(len(times) / sum(times))}


def main() -> None:
    results = {"machine": {"cpus": os.cpu_count()}, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
               "extraction": bench_extraction()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
