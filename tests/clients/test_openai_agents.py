"""The OpenAI Agents SDK (default model: the Responses API) and the openai SDK's responses and embeddings."""

from __future__ import annotations

from pathlib import Path

from tests.clients.conftest import assert_all_pass, python_client, run_client


def test_agents_sdk_default_model(clients_python: Path, stack: str) -> None:
    assert_all_pass(run_client(python_client(clients_python, "agents_client.py"), stack),
                    ["run", "run_with_tool", "run_streamed"])


def test_openai_sdk_responses_and_embeddings(clients_python: Path, stack: str) -> None:
    assert_all_pass(run_client(python_client(clients_python, "openai_sdk_client.py"), stack),
                    ["responses_create", "responses_stream", "responses_parse", "responses_tool_call", "embeddings"])
