"""The Node clients (official openai package, Vercel AI SDK's default createOpenAI model), when node exists."""

from __future__ import annotations

from tests.clients.conftest import NODE_DIR, assert_all_pass, run_client

CHECKS = ["openai_chat", "openai_stream", "openai_tools", "openai_responses", "openai_embeddings",
          "ai_sdk_generate_text", "ai_sdk_stream_text", "ai_sdk_tools", "ai_sdk_generate_object"]


def test_node_openai_and_vercel_ai_sdk(node: str, stack: str) -> None:
    assert_all_pass(run_client([node, str(NODE_DIR / "clients.mjs")], stack), CHECKS)
