"""Hypothesis strategies for neutral prompts and completions, shared by the records' tests.

Each format carries a different part of what a Prompt can say, so the strategies come in small
pieces a test puts together into the prompts its format can carry.
"""

from __future__ import annotations

import base64

from hypothesis import strategies as st

from bifrost_py.domain.records.neutral import (
    Block,
    Completion,
    image_block,
    text_block,
    tool_result_block,
    tool_use_block,
)

TEXTS = st.text(max_size=12)
NON_EMPTY_TEXTS = st.text(min_size=1, max_size=12)
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,11}", fullmatch=True)
IDS = st.from_regex(r"(toolu_|call_)?[A-Za-z0-9]{1,10}", fullmatch=True)
MEDIA_TYPES = st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False) | TEXTS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=6)
JSON_OBJECTS = st.dictionaries(TEXTS, JSON_VALUES, max_size=3)
MAX_TOKENS = st.none() | st.integers(1, 100_000)
UNIT_NUMBERS = st.none() | st.floats(0, 1)
STOPS = st.lists(NON_EMPTY_TEXTS, max_size=3)
STOP_REASONS = st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "tool_use"])
TOKEN_COUNTS = st.integers(0, 10**6)

text_blocks = st.builds(text_block, TEXTS)
image_blocks = st.builds(image_block, MEDIA_TYPES,
                         st.binary(min_size=1, max_size=12).map(
                             lambda data: base64.b64encode(data).decode()))
tool_use_blocks = st.builds(tool_use_block, IDS, NAMES, JSON_OBJECTS)
tool_result_blocks = st.builds(tool_result_block, IDS, TEXTS, st.booleans())
tools = st.builds(lambda name, description, schema: {"name": name, "description": description,
                                                     "input_schema": schema},
                  NAMES, TEXTS, JSON_OBJECTS)


@st.composite
def tool_choices(draw: st.DrawFn, tool_list: list[Block]) -> str | None:
    """A tool choice for these tools: every format leaves it out when there are none."""
    if not tool_list:
        return None
    return draw(st.none() | st.sampled_from(["auto", "any", "none"])
                | st.sampled_from([tool["name"] for tool in tool_list]))


@st.composite
def completions(draw: st.DrawFn, tool_calls: bool = True) -> Completion:
    blocks = st.one_of(text_blocks, tool_use_blocks) if tool_calls else text_blocks
    reason = draw(STOP_REASONS)
    stop_sequence = draw(NON_EMPTY_TEXTS) if reason == "stop_sequence" else None
    return Completion(draw(st.lists(blocks, max_size=4)), draw(TOKEN_COUNTS), draw(TOKEN_COUNTS),
                      reason, stop_sequence)


def joined_text(completion: Completion) -> list[Block]:
    """The completion's text as the one block a single-text format gives back, if any."""
    return [text_block(completion.text)] if completion.text else []


def tool_uses(completion: Completion) -> list[Block]:
    return [block for block in completion.content if block["type"] == "tool_use"]
