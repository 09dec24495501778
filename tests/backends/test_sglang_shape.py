"""SGLang's own fields cut from its answers (issue 11, point 7); through a proxy: tests/integration."""

from __future__ import annotations

import json

import pytest

from router.backends.sglang_shape import openai_bytes

SGLANG_REPLY = (b'{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":'
                b'{"role":"assistant","content":"say \\",\\"matched_stop\\":null here","tool_calls":null,'
                b'"reasoning_content":null},"logprobs":null,"finish_reason":"stop","matched_stop":151645}],'
                b'"usage":{"prompt_tokens":6,"total_tokens":11,"completion_tokens":5,'
                b'"prompt_tokens_details":{"cached_tokens":0},"reasoning_tokens":0},'
                b'"metadata":{"weight_version":"default"}}')


def test_extras_are_cut_and_text_is_untouched() -> None:
    out = json.loads(openai_bytes(SGLANG_REPLY))
    choice = out["choices"][0]
    assert "matched_stop" not in choice and "reasoning_content" not in choice["message"]
    assert choice["message"]["content"] == 'say ","matched_stop":null here'
    assert "metadata" not in out and "reasoning_tokens" not in out["usage"]
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}


@pytest.mark.parametrize("kept", [b',"reasoning_content":"think"', b',"matched_stop_x":1'])
def test_fields_that_carry_something_stay(kept: bytes) -> None:
    event = b'{"choices":[{"delta":{"content":"a"' + kept + b'}}]}'
    assert openai_bytes(event) == event
    assert openai_bytes(b'{"usage":{"a":1,"reasoning_tokens":12}}') == b'{"usage":{"a":1,"reasoning_tokens":12}}'
    assert openai_bytes(b'{"choices":[{"index":0,"matched_stop":"</s>"}]}') == b'{"choices":[{"index":0}]}'

