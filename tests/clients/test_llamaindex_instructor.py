"""LlamaIndex's OpenAILike and instructor against tierroute, on auto and every tier."""

from __future__ import annotations

from pathlib import Path

from tests.clients.conftest import assert_all_pass, python_client, run_client


def test_llamaindex_openai_like(clients_python: Path, stack: str) -> None:
    assert_all_pass(run_client(python_client(clients_python, "llamaindex_client.py"), stack),
                    ["chat", "stream_chat", "complete", "tool_call"])


def test_instructor(clients_python: Path, stack: str) -> None:
    assert_all_pass(run_client(python_client(clients_python, "instructor_client.py"), stack),
                    ["tools", "json_schema", "json", "tools_partial_stream"])
