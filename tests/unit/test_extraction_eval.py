"""The extractor on an independently labelled set of sentences (tests/extraction_labelled.yml)."""
from tests.extraction_eval import evaluate


def test_red_flags_and_present_findings_are_found():
    report = evaluate()["per_topic"]
    assert report["red_flag"]["present"]["recall"] >= 0.95
    assert report["red_flag"]["present"]["precision"] >= 0.95
    for topic in ("bleeding", "fever", "swelling", "pus", "lymph_nodes"):
        assert report[topic]["present"]["recall"] >= 0.95, topic
