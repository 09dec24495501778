from __future__ import annotations

import pytest

from classifiers.text import content_text, text_for_chat, text_for_prompt

CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "an answer"},
    {"role": "user", "content": [{"type": "text", "text": "second"},
                                 {"type": "image_url", "image_url": {"url": "data:..."}},
                                 {"type": "text", "text": "question"}]},
]


def test_default_is_the_last_user_message() -> None:
    assert text_for_chat(CHAT) == "second\nquestion"
    assert text_for_chat(CHAT[:3]) == "first question"


def test_last_user_without_text_falls_back() -> None:
    image_only = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
    assert text_for_chat(CHAT[:2] + [image_only]) == "first question"
    assert text_for_chat([{"role": "system", "content": "only system"}]) == "only system"
    assert text_for_chat([{"role": "assistant", "content": None}]) == ""
    assert text_for_chat([]) == ""


def test_other_modes() -> None:
    assert text_for_chat(CHAT, mode="all_user") == "first question\n\nsecond\nquestion"
    assert text_for_chat(CHAT[:3], mode="conversation") == \
        "system: You are terse.\n\nuser: first question\n\nassistant: an answer"
    with pytest.raises(ValueError, match="unknown chat text mode"):
        text_for_chat(CHAT, mode="nope")  # type: ignore[arg-type]


def test_content_text_shapes() -> None:
    assert content_text("plain") == "plain"
    assert content_text(None) == ""
    assert content_text(["bare", {"type": "text", "text": "part"}, {"type": "text"}]) == "bare\npart"


def test_text_for_prompt() -> None:
    assert text_for_prompt("complete me") == "complete me"
    assert text_for_prompt(["one", "two"]) == "one\n\ntwo"
    assert text_for_prompt([101, 2023, 102]) == ""
