"""The policy's ``embeddings`` section (issue 11, point 3): what parses, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from router.errors import PolicyError
from router.policy.loader import parse_policy
from router.policy.model import LiteLLMEmbeddings, SGLangEmbeddings
from tests.support import policy_dict

SGL = {"kind": "sglang", "model": "BAAI/bge-m3", "replicas": ["http://127.0.0.1:30010", "http://127.0.0.1:30011"]}
LLM = {"kind": "litellm", "model": "openai/text-embedding-3-small", "api_key_env": "OPENAI_API_KEY",
       "input_per_mtok": 0.02}


def _parse(embeddings: Any) -> Any:
    pol = {**policy_dict(small=["http://127.0.0.1:1"]), "embeddings": embeddings}
    return parse_policy(yaml.safe_dump(pol), env={}).policy


def _problems(embeddings: Any) -> str:
    with pytest.raises(PolicyError) as ei:
        _parse(embeddings)
    return " ".join(ei.value.problems)


def test_both_kinds_parse_and_the_section_is_optional() -> None:
    assert parse_policy(yaml.safe_dump(policy_dict(small=["http://127.0.0.1:1"])), env={}).policy.embeddings is None
    e = _parse({"bge-m3": SGL, "text-embedding-3-small": LLM}).embeddings
    assert isinstance(e["bge-m3"], SGLangEmbeddings) and e["bge-m3"].input_per_mtok == 0
    assert e["bge-m3"].replica_urls() == ["http://127.0.0.1:30010", "http://127.0.0.1:30011"]
    assert isinstance(e["text-embedding-3-small"], LiteLLMEmbeddings)
    assert e["text-embedding-3-small"].input_per_mtok == 0.02


@pytest.mark.parametrize(("embeddings", "words"), [
    ({"x": {**LLM, "input_per_mtok": None}}, "input_per_mtok"),
    ({"x": {k: v for k, v in LLM.items() if k != "input_per_mtok"}}, "input_per_mtok"),
    ({"x": {**SGL, "kind": "tei"}}, "kind"),
    ({"x": {**SGL, "replicas": []}}, "replicas"),
    ({"x": {**SGL, "replicas": ["http://h:1", "http://h:1/"]}}, "unique"),
    ({"x": {**SGL, "weights": 1}}, "weights"),
    ({"small": SGL}, "clashes"),
    ({"auto": SGL}, "clashes"),
    ({"sim-small": SGL}, "clashes"),
    ({"bad name": SGL}, "bad name"),
    ({"x": {**SGL, "replicas": ["http://127.0.0.1:1"]}}, "also listed"),
])
def test_errors_name_the_field(embeddings: dict[str, Any], words: str) -> None:
    assert words in _problems(embeddings)


def test_an_unset_key_variable_is_a_warning() -> None:
    pol = {**policy_dict(small=["http://127.0.0.1:1"]), "embeddings": {"te3": LLM}}
    warned = parse_policy(yaml.safe_dump(pol), env={}).warnings
    assert any("embeddings.te3" in w and "OPENAI_API_KEY" in w for w in warned)
    assert not parse_policy(yaml.safe_dump(pol), env={"OPENAI_API_KEY": "k"}).warnings
