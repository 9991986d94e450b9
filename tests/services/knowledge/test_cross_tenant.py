"""Knowledge of one tenant never reaches another tenant, by name or through search."""

from __future__ import annotations

import grpc

from avatarchat.knowledge.v1 import knowledge_pb2
from tests.errors_assert import expect_error
from tests.services.conftest import Account, Stack
from tests.services.knowledge.service_env import Knowledge

SECRET = b"The vault combination of Globex is 4-8-15-16-23-42, known only to the night guard."


async def test_other_tenants_see_nothing(knowledge: Knowledge, account: Account, stack: Stack) -> None:
    other = await stack.new_tenant("kn-other")
    kb = await knowledge.new_kb(account)
    doc = await knowledge.wait(account, (await knowledge.upload(account, kb.name, SECRET, "text/plain")).name)
    assert doc.state == knowledge_pb2.DOCUMENT_STATE_READY
    assert (await knowledge.search(account, kb.name, "vault combination")).results

    # The other tenant's own knowledge base with the same question finds nothing of the first tenant.
    own = await knowledge.new_kb(other)
    await knowledge.wait(
        other, (await knowledge.upload(other, own.name, b"Our office opens at nine.", "text/plain")).name
    )
    for mode in (knowledge_pb2.SEARCH_MODE_HYBRID, knowledge_pb2.SEARCH_MODE_VECTOR, knowledge_pb2.SEARCH_MODE_KEYWORD):
        results = (await knowledge.search(other, own.name, "vault combination night guard", mode, top_k=50)).results
        assert all("vault" not in r.text for r in results)
    multi = knowledge_pb2.SearchRequest(parent=other.tenant, knowledge_bases=[kb.name], query="vault combination")
    await expect_error(knowledge.stub.Search(multi, metadata=other.metadata), grpc.StatusCode.INVALID_ARGUMENT)
    for call in (
        knowledge.stub.GetKnowledgeBase(knowledge_pb2.GetKnowledgeBaseRequest(name=kb.name), metadata=other.metadata),
        knowledge.stub.GetDocument(knowledge_pb2.GetDocumentRequest(name=doc.name), metadata=other.metadata),
        knowledge.stub.DeleteDocument(knowledge_pb2.DeleteDocumentRequest(name=doc.name), metadata=other.metadata),
        knowledge.search(other, kb.name, "vault combination"),
        knowledge.stub.GetStats(knowledge_pb2.GetStatsRequest(name=kb.name), metadata=other.metadata),
    ):
        await expect_error(call, grpc.StatusCode.NOT_FOUND, "RESOURCE_NOT_FOUND")
    # Across several knowledge bases of one's own tenant works; naming a foreign one does not.
    both = knowledge_pb2.SearchRequest(parent=account.tenant, knowledge_bases=[kb.name], query="vault combination")
    assert (await knowledge.stub.Search(both, metadata=account.metadata)).results
