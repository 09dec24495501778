"""What backends report they can do: SGLang's server/model info and litellm's (local) model map."""

from __future__ import annotations

from router.backends.model_info import litellm_caps, litellm_model_caps, sglang_caps
from router.policy.capabilities import Caps


def test_sglang_caps_from_server_and_model_info() -> None:
    info = {"tool_call_parser": "qwen25", "reasoning_parser": None, "grammar_backend": "xgrammar",
            "max_req_input_len": 32763, "context_length": None}
    c = sglang_caps(info, {"has_image_understanding": True})
    assert (c.vision, c.tools, c.reasoning, c.json_schema, c.context_tokens, c.source) == \
        (True, True, False, True, 32768, "sglang")
    none = sglang_caps({"grammar_backend": "none", "context_length": 4096}, {"has_image_understanding": False})
    assert (none.vision, none.tools, none.json_schema, none.context_tokens) == (False, None, False, 4096)
    assert sglang_caps(None, None) == Caps(source="sglang")


def test_litellm_caps_reads_the_map() -> None:
    c = litellm_caps({"supports_vision": True, "supports_function_calling": False, "supports_reasoning": None,
                      "max_output_tokens": 16384, "max_input_tokens": 128000})
    assert (c.vision, c.tools, c.reasoning, c.max_output_tokens, c.context_tokens) == (True, False, None, 16384,
                                                                                       128000)
    assert litellm_caps(None) == Caps()


async def test_litellm_model_caps_uses_the_local_map() -> None:
    found = await litellm_model_caps(["openai/gpt-4o", "deepseek/deepseek-reasoner", "openai/not-a-real-model"])
    gpt = found["openai/gpt-4o"]
    assert (gpt.vision, gpt.tools, gpt.json_schema, gpt.source) == (True, True, True, "litellm")
    assert gpt.max_output_tokens and gpt.context_tokens and gpt.context_tokens >= 100_000
    assert found["deepseek/deepseek-reasoner"].tools is False and found["deepseek/deepseek-reasoner"].reasoning
    assert found["openai/not-a-real-model"] == Caps()
