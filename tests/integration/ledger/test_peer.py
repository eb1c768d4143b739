"""Leadership (`ledger/peer.py`): one leader among the nodes, a lead given up at once by its
holder and by no one else, on every database. Each node is a thread with a connection of its
own, as another process has: the session locks of PostgreSQL and MariaDB/MySQL are the
connection's."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar, cast

import pytest
from django.db import connection, connections
from django.utils import timezone

from ash_oban_django.ledger import peer
from ash_oban_django.ledger.peer import peers
from ash_oban_django.models import Peer

pytestmark = pytest.mark.django_db(transaction=True)

LEAD = "test-lead"
T = TypeVar("T")


class Node:
    """A node of its own: a thread holding its connection until closed, running calls on
    request."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._serve, name=name)
        self.thread.start()

    def _serve(self) -> None:
        try:
            while (item := self.calls.get()) is not None:
                call, answer = item
                try:
                    answer.put((True, call()))
                except Exception as error:
                    answer.put((False, error))
        finally:
            connections.close_all()  # the node's process ends: its session with it

    def submit(self, call: Callable[[], T]) -> Callable[[], T]:
        """Start `call` on the node; returns a function that waits for its result."""
        answer: queue.Queue[tuple[bool, Any]] = queue.Queue()
        self.calls.put((call, answer))

        def result() -> T:
            ok, value = answer.get(timeout=30)
            if not ok:
                raise value
            return cast(T, value)

        return result

    def elect(self) -> bool:
        return self.submit(lambda: peers().elect(LEAD, self.name, 5))()

    def resign(self, name: str | None = None) -> bool:
        return self.submit(lambda: peers().resign(LEAD, name or self.name))()

    def close(self) -> None:
        self.calls.put(None)
        self.thread.join(30)


@pytest.fixture
def node() -> Iterator[Callable[[str], Node]]:
    started: list[Node] = []

    def start(name: str) -> Node:
        started.append(Node(name))
        return started[-1]

    yield start
    for each in started:
        each.close()


def holder() -> str | None:
    lead = peers().leader(LEAD)
    return None if lead is None else lead.node


def test_peers__the_run_checks_its_databases_election() -> None:
    assert type(peers()) is peer.VENDORS[connection.vendor]


def test_lease__one_holder_until_it_lapses() -> None:
    lead = peers()
    assert lead.lease(LEAD, "a:1", 5, take_over=False)
    assert not lead.lease(LEAD, "b:2", 5, take_over=False)
    assert lead.lease(LEAD, "a:1", 5, take_over=False)  # renewed
    Peer.objects.filter(name=LEAD).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert lead.leader(LEAD) is None  # lapsed: no one leads
    assert lead.lease(LEAD, "b:2", 5, take_over=False)  # b takes over
    assert not lead.lease(LEAD, "a:1", 5, take_over=False)
    assert holder() == "b:2"


def test_elect__one_leader_among_nodes_bidding_at_once(node: Callable[[str], Node]) -> None:
    nodes = [node(f"node:{i}") for i in range(4)]
    ready = threading.Barrier(len(nodes))

    def bid(each: Node) -> Callable[[], bool]:
        def at_once() -> bool:
            ready.wait(10)
            return peers().elect(LEAD, each.name, 5)

        return at_once

    results = [waiting() for waiting in [each.submit(bid(each)) for each in nodes]]
    assert results.count(True) == 1, results
    winner = nodes[results.index(True)]
    assert holder() == winner.name
    # The others keep losing while it renews.
    assert winner.elect() is True
    assert [each.elect() for each in nodes if each is not winner] == [False] * 3


def test_elect__a_dead_leaders_lead_is_taken_over(node: Callable[[str], Node]) -> None:
    first, second = node("first:1"), node("second:2")
    assert (first.elect(), second.elect()) == (True, False)
    first.close()  # its process dies without resigning...
    if connection.vendor in ("postgresql", "mysql"):
        # ...and its session lock with it, once the server has seen the connection go (it
        # frees the lock in its own time): the next bids win within moments.
        deadline = time.monotonic() + 2
        while not second.elect():
            assert time.monotonic() < deadline, "the dead leader's lock was not freed"
            time.sleep(0.05)
    else:
        # ...its lease lapses after its time-to-live.
        assert second.elect() is False
        Peer.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        assert second.elect() is True
    assert holder() == "second:2"


def test_resign__frees_the_lead_at_once(node: Callable[[str], Node]) -> None:
    first, second = node("first:1"), node("second:2")
    assert first.elect() and first.elect()  # renewed: the lock is taken once however often
    assert second.elect() is False
    assert first.resign() is True
    assert holder() is None  # the row goes with the lead: no one is seen leading
    assert second.elect() is True  # before any lease could lapse
    assert holder() == "second:2"
    assert first.elect() is False  # the resigned node bids like any other
    assert first.resign() is False  # and has nothing more to give up


def test_resign__by_a_node_that_does_not_hold_the_lead_changes_nothing(
    node: Callable[[str], Node],
) -> None:
    leader, other, third = node("leader:1"), node("other:2"), node("third:3")
    assert leader.elect() is True
    assert other.resign() is False  # a node that never led
    assert third.elect() is False
    assert third.resign() is False  # a node that lost its bid
    assert holder() == "leader:1"
    assert other.elect() is False and third.elect() is False  # the lock is still held too
    assert leader.elect() is True


@pytest.mark.skipif(connection.vendor != "mysql", reason="MariaDB/MySQL only")
def test_elect__the_mysql_lock_is_per_database() -> None:
    """Named locks are server-wide: an installation on another database of the same server
    holding its leader lock does not keep this one from leading."""
    import MySQLdb

    settings = connection.settings_dict
    other = MySQLdb.connect(
        host=settings["HOST"],
        port=int(settings["PORT"] or 3306),
        user=settings["USER"],
        password=settings["PASSWORD"],
        database="mysql",
    )
    try:
        cursor = other.cursor()
        cursor.execute(peer.MYSQL_LEAD, [f"ash_oban_django:lead:{LEAD}"])
        assert cursor.fetchone() == (1,)  # the other database's leader
        assert peers().elect(LEAD, "here:1", 5) is True
    finally:
        other.close()
        peers().resign(LEAD, "here:1")


def test_holds__only_the_node_that_leads_on_its_session(node: Callable[[str], Node]) -> None:
    leader, other = node("leader:1"), node("other:2")
    assert leader.elect() is True and other.elect() is False
    assert leader.submit(lambda: peers().holds(LEAD, "leader:1"))() is True
    assert other.submit(lambda: peers().holds(LEAD, "other:2"))() is False
    assert leader.resign() is True
    assert leader.submit(lambda: peers().holds(LEAD, "leader:1"))() is False


@pytest.mark.row_locks
def test_bound_session__a_leader_idle_past_its_bound_loses_the_lead(
    node: Callable[[str], Node],
) -> None:
    """A leader that hangs: the database ends its session once it sat idle past the bound,
    the lock goes with it, another node leads, and the thawed node holds nothing."""
    hung, other = node("hung:1"), node("other:2")
    assert hung.submit(lambda: peers().bound_session(1, None))() is None
    assert hung.elect() is True
    assert other.elect() is False
    started = time.monotonic()
    while not other.elect():  # `hung` sends nothing meanwhile, as if frozen
        assert time.monotonic() - started < 5, "the idle leader kept the lead"
        time.sleep(0.1)
    assert time.monotonic() - started >= 0.9
    assert holder() == "other:2"

    def thawed() -> bool:
        try:
            return peers().holds(LEAD, "hung:1")
        except Exception:  # the session is gone: so is the lead
            connections[connection.alias].close()
            return peers().holds(LEAD, "hung:1")

    assert hung.submit(thawed)() is False
    assert hung.elect() is False


@pytest.mark.row_locks
def test_bound_session__a_live_leader_keeps_the_lead(node: Callable[[str], Node]) -> None:
    leader, other = node("leader:1"), node("other:2")
    assert leader.submit(lambda: peers().bound_session(1, None))() is None
    for _ in range(6):  # renewing every half second, for three times the bound
        assert leader.elect() is True
        assert other.elect() is False
        time.sleep(0.5)
    assert holder() == "leader:1"
