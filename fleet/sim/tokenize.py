"""A deterministic toy tokenizer and chat template for the simulators.

Tokens
    Text is split the way byte-level BPE tokenizers roughly split English: a run of at most
    8 letters with an optional leading space, a run of at most 3 digits with an optional
    leading space, one punctuation character with an optional leading space, or a run of
    whitespace. That gives about one token per short word or punctuation mark and about 4-5
    characters per token on prose, close to real tokenizers' counts. A piece's id is
    ``crc32(piece) mod (VOCAB_SIZE - RESERVED) + RESERVED`` -- stable across processes and
    machines (unlike ``hash()``); ids below ``RESERVED`` are special tokens. Ids cannot be
    decoded back to text (nothing here needs it).

Chat template
    Each message renders as the segments ``<|role|>`` ``"\\n"`` content ``"\\n"``, leading
    system messages first, then (when the request has ``tools``) one ``<|tools|>`` block
    holding the tool schemas as canonical JSON -- as real templates put tools into the
    system turn -- then the remaining messages, and finally the generation prompt
    ``<|assistant|>`` ``"\\n"``. Every segment is encoded on its own and the results are
    concatenated, so token boundaries never depend on neighbouring segments. Consequence
    (the property multi-turn prefix reuse relies on): the prompt of turn *n* -- which ends in
    the generation prompt -- followed by the reply's tokens is a prefix of the prompt of turn
    *n + 1*, whose history holds that assistant reply.

Cost: one regex pass plus one dict lookup per token (a per-tokenizer memo of piece -> id),
about 0.4 µs per token in CPython. Chat segments of 256+ characters are also memoized whole
(LRU, up to ``SEGMENT_MEMO_TOKENS`` tokens): in multi-turn and shared-system-prompt traffic
every message but the newest was seen before, so a long prompt costs little more than hashing
its strings.
"""

from __future__ import annotations

import re
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

VOCAB_SIZE = 151_936  # the size of Qwen2's vocabulary, for realistic-looking ids
RESERVED = 32

PAD_ID = 0
EOS_ID = 1  # what a natural end of a reply "generates"; reported as matched_stop
ROLE_IDS: Mapping[str, int] = {
    "system": 2,
    "developer": 2,  # OpenAI's newer name for the system role
    "user": 3,
    "assistant": 4,
    "tool": 5,
    "function": 5,
}
TOOLS_ID = 6
UNKNOWN_ROLE_ID = 7

_PIECE = re.compile(r" ?[^\W\d_]{1,8}| ?\d{1,3}| ?[^\s\w]| ?_|\s+")
_MEMO_LIMIT = 200_000
SEGMENT_MEMO_TOKENS = 2_000_000
_SEGMENT_MIN_CHARS = 256


class Tokenizer:
    """Text -> token ids (see the module docstring). Holds only a memo of seen pieces."""

    def __init__(self) -> None:
        self._memo: dict[str, int] = {}
        self._segments: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self._segment_tokens = 0

    def piece_id(self, piece: str) -> int:
        tid = self._memo.get(piece)
        if tid is None:
            tid = zlib.crc32(piece.encode()) % (VOCAB_SIZE - RESERVED) + RESERVED
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[piece] = tid
        return tid

    def pieces(self, text: str) -> list[str]:
        return _PIECE.findall(text)

    def encode(self, text: str) -> list[int]:
        memo = self._memo
        out: list[int] = []
        append = out.append
        for piece in _PIECE.findall(text):
            tid = memo.get(piece)
            append(tid if tid is not None else self.piece_id(piece))
        return out

    def count(self, text: str) -> int:
        return len(_PIECE.findall(text))

    def encode_segment(self, text: str) -> Sequence[int]:
        """``encode(text)``, memoized (LRU) for long texts; the result must not be modified."""
        if len(text) < _SEGMENT_MIN_CHARS:
            return self.encode(text)
        segs = self._segments
        ids = segs.get(text)
        if ids is not None:
            segs.move_to_end(text)
            return ids
        ids = tuple(self.encode(text))
        segs[text] = ids
        self._segment_tokens += len(ids)
        while self._segment_tokens > SEGMENT_MEMO_TOKENS and len(segs) > 1:
            _, old = segs.popitem(last=False)
            self._segment_tokens -= len(old)
        return ids

    # -- chat ---------------------------------------------------------------------------------

    def chat_prompt_ids(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Any] | None = None,
                        *, add_generation_prompt: bool = True) -> list[int]:
        """Token ids of the rendered chat template (see the module docstring).

        Raises ``ValueError`` on a message that is not an object with a string ``role``.
        """
        nl = self.encode("\n")
        ids: list[int] = []
        ordered = _template_order(messages, tools)
        for item in ordered:
            if isinstance(item, _ToolsMark):
                ids.append(TOOLS_ID)
                ids += nl
                ids += self.encode_segment(_canonical_json(tools))
                ids += nl
                continue
            role, content = item
            ids.append(ROLE_IDS.get(role, UNKNOWN_ROLE_ID))
            ids += nl
            ids += self.encode_segment(content)
            ids += nl
        if add_generation_prompt:
            ids.append(ROLE_IDS["assistant"])
            ids += nl
        return ids

    def chat_text(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Any] | None = None,
                  *, add_generation_prompt: bool = True) -> str:
        """The same template as text (for people and debugging; ids come from chat_prompt_ids)."""
        parts: list[str] = []
        for item in _template_order(messages, tools):
            if isinstance(item, _ToolsMark):
                parts.append(f"<|tools|>\n{_canonical_json(tools)}\n")
            else:
                role, content = item
                parts.append(f"<|{role}|>\n{content}\n")
        if add_generation_prompt:
            parts.append("<|assistant|>\n")
        return "".join(parts)


class _ToolsMark:
    pass


_TOOLS_MARK = _ToolsMark()


def _template_order(messages: Sequence[Mapping[str, Any]],
                    tools: Sequence[Any] | None) -> list[tuple[str, str] | _ToolsMark]:
    rendered = [_message_parts(m) for m in messages]
    lead = 0
    while lead < len(rendered) and rendered[lead][0] in ("system", "developer"):
        lead += 1
    out: list[tuple[str, str] | _ToolsMark] = list(rendered[:lead])
    if tools:
        out.append(_TOOLS_MARK)
    out.extend(rendered[lead:])
    return out


def _message_parts(message: Mapping[str, Any]) -> tuple[str, str]:
    if not isinstance(message, Mapping):
        raise ValueError("each message must be an object")
    role = message.get("role")
    if not isinstance(role, str):
        raise ValueError("each message needs a string 'role'")
    text = content_text(message.get("content"))
    extra = [message[k] for k in ("tool_calls", "function_call") if message.get(k)]
    if extra:
        text += _canonical_json(extra[0] if len(extra) == 1 else extra)
    return role, text


def content_text(content: Any) -> str:
    """Text of an OpenAI/Anthropic message content: a string, or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_part_text(p) for p in content)
    return _canonical_json(content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Mapping):
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text") and isinstance(part.get("text"), str):
            return str(part["text"])
        if kind == "tool_result":  # Anthropic
            return content_text(part.get("content"))
    return _canonical_json(part)


def _canonical_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

