"""Conversations written as the single prompt text Bedrock's completion models take.

The inverse of prompt._template_turns: Llama 3's header tokens, the [INST] markers of Mistral
and Llama 2, and Titan's "User:"/"Bot:" transcript. These models read text only. A text holding
its template's own markers would be read as turns of its own, so it is refused, not sent.
"""

from __future__ import annotations

from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.neutral import Prompt

_LLAMA3_MARKERS = ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|eot_id|>")
# Llama 3's header marker too: a prompt holding it is read as a Llama 3 one (prompt.py).
_INST_MARKERS = ("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "<s>", "</s>",
                 "<|start_header_id|>")

Turn = tuple[str, str]  # (role, text)


def llama3_prompt(prompt: Prompt) -> str:
    """Meta's Llama 3 chat template. It trims each text, as Meta's own template does; a closing
    assistant turn is left open for the model to go on with."""
    turns = _turns(prompt, "Llama", _LLAMA3_MARKERS)
    if prompt.system:
        turns.insert(0, ("system", prompt.system))
    text = "<|begin_of_text|>" + "".join(
        f"<|start_header_id|>{role}<|end_header_id|>\n\n{content.strip()}<|eot_id|>"
        for role, content in turns)
    if turns[-1][0] == "assistant":
        return text.removesuffix("<|eot_id|>")
    return text + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def inst_prompt(prompt: Prompt) -> str:
    """Mistral's [INST] template, the system prompt in a Llama 2 <<SYS>> block at the start of
    the first instruction. Turns must alternate, starting with the user's."""
    turns = _turns(prompt, "an [INST] prompt", _INST_MARKERS)
    for i, (role, _) in enumerate(turns):
        if role != ("user", "assistant")[i % 2]:
            raise RecordError(f"messages[{i}]: an [INST] prompt needs turns alternating user and "
                              "assistant, starting with user")
    parts = ["<s>"]
    for i, (role, content) in enumerate(turns):
        if role == "assistant":
            parts.append(f" {content.strip()}" + ("</s>" if i < len(turns) - 1 else ""))
            continue
        system = f"<<SYS>>\n{prompt.system}\n<</SYS>>\n\n" if prompt.system and i == 0 else ""
        parts.append(f"[INST] {system}{content.strip()} [/INST]")
    return "".join(parts)


def titan_text(prompt: Prompt) -> str:
    """Titan's input text: a lone user message as it is, else the transcript AWS documents for
    conversations with Titan, its last line leaving the bot's turn open."""
    turns = _turns(prompt, "Titan", ())
    if not prompt.system and [role for role, _ in turns] == ["user"]:
        return turns[0][1]
    lines = [prompt.system] if prompt.system else []
    lines += [f"{'User' if role == 'user' else 'Bot'}: {content}" for role, content in turns]
    if turns[-1][0] == "user":
        lines.append("Bot:")
    return "\n".join(lines)


def _turns(prompt: Prompt, reader: str, markers: tuple[str, ...]) -> list[Turn]:
    """Each message's text, its text blocks joined by newlines; RecordError for anything else
    in it, or for a text holding a template marker."""
    _check_markers(prompt.system or "", markers, "system")
    turns = []
    for i, message in enumerate(prompt.messages):
        for j, block in enumerate(message.content):
            if block["type"] != "text":
                raise RecordError(f"messages[{i}].content[{j}]: {reader} takes text only, not "
                                  f"{block['type']} blocks")
        text = "\n".join(block["text"] for block in message.content)
        _check_markers(text, markers, f"messages[{i}]")
        turns.append((message.role, text))
    return turns


def _check_markers(text: str, markers: tuple[str, ...], where: str) -> None:
    found = next((marker for marker in markers if marker in text), None)
    if found is not None:
        raise RecordError(f"{where} holds {found!r}, which the prompt template would read as "
                          "its own marker")
