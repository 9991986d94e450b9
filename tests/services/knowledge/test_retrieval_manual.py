"""Retrieval quality on the PostgreSQL 15 manual: questions whose answering page is known, recall@5 per mode.

Thirty-five pages are ingested through the service (upload → queue → worker → pgvector), which keeps the run short;
each question's expected page is among them, the other pages are distractors on neighbouring topics.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from avatarchat.knowledge.v1 import knowledge_pb2
from tests.services.conftest import Account, Stack
from tests.services.knowledge.service_env import Knowledge

PAGES = [
    "backup-dump.html",
    "datatype-boolean.html",
    "datatype-money.html",
    "datatype-numeric.html",
    "datatype-uuid.html",
    "ddl-alter.html",
    "indexes-types.html",
    "mvcc-intro.html",
    "plpgsql-overview.html",
    "sql-analyze.html",
    "sql-cluster.html",
    "sql-comment.html",
    "sql-createdatabase.html",
    "sql-createrole.html",
    "sql-createschema.html",
    "sql-createsequence.html",
    "sql-createview.html",
    "sql-dropindex.html",
    "sql-droptable.html",
    "sql-explain.html",
    "sql-grant.html",
    "sql-listen.html",
    "sql-lock.html",
    "sql-notify.html",
    "sql-reindex.html",
    "sql-truncate.html",
    "sql-vacuum.html",
    "textsearch-intro.html",
    "tutorial-concepts.html",
    "tutorial-createdb.html",
    "tutorial-fk.html",
    "tutorial-join.html",
    "tutorial-select.html",
    "tutorial-transactions.html",
    "wal-intro.html",
]

#: Question → the pages that answer it.
QUESTIONS: dict[str, set[str]] = {
    "How do I reclaim the storage occupied by dead tuples?": {"sql-vacuum.html"},
    "What range of values can a smallint hold?": {"datatype-numeric.html"},
    "How do I export a database into a script file that can restore it?": {"backup-dump.html"},
    "How do I see the execution plan the planner chose for a query?": {"sql-explain.html"},
    "How do I add a new column to an existing table?": {"ddl-alter.html"},
    "How do I allow a user to select from a table?": {"sql-grant.html"},
    "How do I create a role that is allowed to log in with a password?": {"sql-createrole.html"},
    "How can a query combine rows from two tables?": {"tutorial-join.html"},
    "What does it mean that a transaction is all-or-nothing?": {"tutorial-transactions.html"},
    "Why do readers never block writers in PostgreSQL?": {"mvcc-intro.html"},
    "How do I quickly remove all rows from a large table?": {"sql-truncate.html"},
    "How do I make a generator of unique sequential numbers?": {"sql-createsequence.html"},
    "How do I define a named query that can be used like a table?": {"sql-createview.html"},
    "What are the benefits of writing functions in PL/pgSQL?": {"plpgsql-overview.html"},
    "Which index types are available, such as B-tree, hash and GiST?": {"indexes-types.html"},
    "How can I explicitly lock a table in exclusive mode?": {"sql-lock.html"},
    "What is write-ahead logging and why does it reduce disk writes?": {"wal-intro.html"},
    "How do I physically reorder a table according to an index?": {"sql-cluster.html"},
    "How can one session send an event to other sessions listening on a channel?": {"sql-notify.html"},
    "How do I keep a foreign key from referencing rows that do not exist?": {"tutorial-fk.html"},
    "Which data type stores universally unique identifiers?": {"datatype-uuid.html"},
    "What is full text searching and what are its advantages over LIKE?": {"textsearch-intro.html"},
    "How do I collect statistics about the contents of tables for the planner?": {"sql-analyze.html"},
    "How do I rebuild a corrupted index?": {"sql-reindex.html"},
    "What is a relational database made of: tables, rows and columns?": {"tutorial-concepts.html"},
}
MODES = {
    "vector": knowledge_pb2.SEARCH_MODE_VECTOR,
    "keyword": knowledge_pb2.SEARCH_MODE_KEYWORD,
    "hybrid": knowledge_pb2.SEARCH_MODE_HYBRID,
}


@pytest.fixture(scope="module")
async def manual_kb(knowledge: Knowledge, stack: Stack, postgres_docs: Path) -> tuple[Account, str, dict[str, str]]:
    """A tenant with the pages ingested; maps document names to page file names."""
    account = await stack.new_tenant("manual", plan="plans/starter")
    kb = await knowledge.new_kb(account, "PostgreSQL manual")
    docs = await asyncio.gather(
        *(knowledge.upload(account, kb.name, (postgres_docs / p).read_bytes(), "text/html", p) for p in PAGES)
    )
    for doc in docs:
        done = await knowledge.wait(account, doc.name, wait_seconds=180)
        assert done.state == knowledge_pb2.DOCUMENT_STATE_READY, done.failure_reason
    return account, kb.name, {d.name: d.upload.filename for d in docs}


def test_every_question_has_its_page_in_the_corpus() -> None:
    assert all(pages <= set(PAGES) for pages in QUESTIONS.values())


@pytest.mark.timeout(300)
async def test_recall_at_5(knowledge: Knowledge, manual_kb: tuple[Account, str, dict[str, str]]) -> None:
    account, kb, page_of = manual_kb
    recall: dict[str, float] = {}
    misses: dict[str, list[str]] = {}
    for mode, value in MODES.items():
        hits = 0
        for question, expected in QUESTIONS.items():
            results = (await knowledge.search(account, kb, question, value, top_k=5)).results
            if {page_of[r.source.document] for r in results} & expected:
                hits += 1
            else:
                misses.setdefault(mode, []).append(question)
        recall[mode] = hits / len(QUESTIONS)
    print(f"\nrecall@5 over {len(QUESTIONS)} questions, {len(PAGES)} manual pages")
    for mode, share in recall.items():
        print(f"  {mode:8s} {share:.2f}")
    print(f"  misses: {misses}")
    assert recall["hybrid"] >= 0.9
    assert recall["vector"] >= 0.8
    assert recall["keyword"] >= 0.75
    assert recall["hybrid"] >= max(recall["keyword"], recall["vector"] - 0.05)
