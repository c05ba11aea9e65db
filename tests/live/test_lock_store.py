"""AtomicRedisLockStore against a real Redis: tickets drawn at the same moment by several
clients (as two Rasa replicas would) are all different and all given back."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from bot.storage.lock_store import AtomicRedisLockStore

CLIENTS, TICKETS_EACH = 6, 60


def draw_at_once(make_store) -> list[int]:
    conversation = f"c{uuid.uuid4().hex[:8]}"
    stores = [make_store() for _ in range(CLIENTS)]  # one connection each, like replicas

    def draw(store) -> list[int]:
        return [store.issue_ticket(conversation, 60) for _ in range(TICKETS_EACH)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [t for tickets in pool.map(draw, stores) for t in tickets]


def test_concurrent_tickets_are_unique(redis_server):
    tickets = draw_at_once(lambda: AtomicRedisLockStore(host="127.0.0.1", port=redis_server.port))
    assert len(tickets) == CLIENTS * TICKETS_EACH
    assert len(set(tickets)) == len(tickets)


def test_rasas_stock_store_shows_the_race_this_class_fixes(redis_server):
    """If Rasa's own store stops racing, AtomicRedisLockStore can go (see its docstring)."""
    tickets = draw_at_once(lambda: RedisLockStore(host="127.0.0.1", port=redis_server.port))
    assert len(set(tickets)) < len(tickets)


def test_cleanup_gives_every_ticket_back_and_deletes_the_lock(redis_server):
    store = AtomicRedisLockStore(endpoint_config=EndpointConfig(
        url="127.0.0.1", port=redis_server.port, db=1, key_prefix="test", type="x"))
    conversation = f"c{uuid.uuid4().hex[:8]}"
    tickets = [store.issue_ticket(conversation, 60) for _ in range(5)]
    assert store.get_lock(conversation).now_serving == tickets[0]
    store.cleanup(conversation, tickets[0])
    assert store.get_lock(conversation).now_serving == tickets[1]
    for ticket in tickets[1:]:
        store.cleanup(conversation, ticket)
    assert store.get_lock(conversation) is None
    assert store.key_prefix.startswith("test:")


def test_a_ticket_past_its_lifetime_stops_blocking_the_next(redis_server):
    """A replica killed while holding a ticket blocks its conversation only until then."""
    store = AtomicRedisLockStore(host="127.0.0.1", port=redis_server.port)
    conversation = f"c{uuid.uuid4().hex[:8]}"
    store.issue_ticket(conversation, 0.3)  # its holder dies and never gives it back
    waiting = store.issue_ticket(conversation, 60)
    assert store.get_lock(conversation).now_serving != waiting
    time.sleep(0.4)
    store.update_lock(conversation)
    assert store.get_lock(conversation).now_serving == waiting
