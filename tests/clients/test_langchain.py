"""LangChain's ChatOpenAI and ChatAnthropic against tierroute, on auto and every tier."""

from __future__ import annotations

from pathlib import Path

from tests.clients.conftest import assert_all_pass, python_client, run_client

OPENAI_CHECKS = ["invoke", "stream_with_usage", "tools_round_trip", "stream_tool_call",
                 "structured_function_calling", "structured_json_schema", "structured_json_mode"]


def test_chat_openai(clients_python: Path, stack: str) -> None:
    assert_all_pass(run_client(python_client(clients_python, "langchain_openai_client.py"), stack), OPENAI_CHECKS)


ANTHROPIC_CHECKS = ["invoke", "stream_with_usage", "tools_round_trip", "stream_tool_call",
                    "structured_function_calling", "structured_json_schema", "structured_dict_schema"]


def test_chat_anthropic(clients_python: Path, stack: str) -> None:
    assert_all_pass(run_client(python_client(clients_python, "langchain_anthropic_client.py"), stack),
                    ANTHROPIC_CHECKS)
