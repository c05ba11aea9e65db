"""Texts in, from the table: each is taken for its turn exactly once, oldest first per
number, and a dead process's claim is taken over after the lease."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import delete

from bot.sms import cli, inbound
from bot.sms.models import utcnow

LEASE = timedelta(seconds=120)


def test_the_oldest_text_of_a_number_is_taken_first_and_only_once(sms_clean):
    now = utcnow()
    first, _ = inbound.record("SM-a1", "+447400200001", None, "no bleeding", 0)
    second, _ = inbound.record("SM-a2", "+447400200001", None, "no fever", 0)
    taken = inbound.claim_next("+447400200001", now, LEASE)
    assert taken.id == first and taken.attempts == 1
    # The second waits while the first is being answered: replies stay in order.
    assert inbound.claim_next("+447400200001", now, LEASE) is None
    inbound.finish(first, "processed")
    assert inbound.claim_next("+447400200001", now, LEASE).id == second


def test_a_dead_processs_claim_is_taken_over_after_the_lease(sms_clean):
    now = utcnow()
    row, _ = inbound.record("SM-b1", "+447400200002", None, "hi", 0)
    inbound.claim_next("+447400200002", now, LEASE)
    assert inbound.waiting_phones(now, now, LEASE) == []
    later = now + LEASE + timedelta(seconds=1)
    assert inbound.waiting_phones(later, later, LEASE) == ["+447400200002"]
    again = inbound.claim_next("+447400200002", later, LEASE)
    assert again.id == row and again.attempts == 2


def test_parallel_claims_take_each_text_once(sms_clean):
    now = utcnow()
    for i in range(5):
        inbound.record(f"SM-c{i}", "+447400200003", None, f"text {i}", 0)
    taken: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            claimed = inbound.claim_next("+447400200003", now, LEASE)
            if claimed is not None:
                with lock:
                    taken.append(claimed.id)
                inbound.finish(claimed.id, "processed")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == taken and len(taken) == len(set(taken)) == 5


def test_cli_status_counts_texts_in_and_those_waiting(sms_clean, capsys):
    inbound.record("SM-d1", "+447400200004", None, "hi", 0)
    with inbound.session() as s, s.begin():
        s.execute(inbound.update(inbound.InboundSms)
                  .values(received_at=utcnow() - timedelta(minutes=5)))
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "texts in: received 1" in out and "waiting for their turn" in out


def test_cli_add_with_a_date_in_the_past_warns_and_prints_the_conversation_id(sms_clean, capsys):
    assert cli.main(["add", "--phone", "07400 200005", "--procedure", "bone_biopsy",
                     "--at", "2020-01-06 10:00"]) == 0
    captured = capsys.readouterr()
    assert "no follow-up will be sent" in captured.err
    assert "conversation id: sms-" in captured.out


def test_cli_status_gives_skipped_by_reason_and_the_workers_last_pass(sms_clean, capsys):
    from bot.sms import heartbeat

    with inbound.session() as s, s.begin():
        s.execute(delete(heartbeat.WorkerHeartbeat))
    cli.main(["add", "--phone", "07400 200006", "--procedure", "bone_biopsy",
              "--at", "2020-01-06 10:00"])
    capsys.readouterr()
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "skipped 4: window had passed when the discharge was registered" in out
    assert "no SMS worker has run yet" in out
    heartbeat.beat("test-host:1", utcnow(), {"followup_sent": 1})
    cli.main(["status"])
    assert "worker: last pass 0 s ago (test-host:1)" in capsys.readouterr().out
    heartbeat.beat("test-host:1", utcnow() - timedelta(hours=1), {})
    cli.main(["status"])
    assert "NOT RUNNING?" in capsys.readouterr().out
