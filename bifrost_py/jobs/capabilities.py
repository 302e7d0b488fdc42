"""What each kind of provider can run of the OpenAI dialect's endpoints.

A batch asks for one endpoint; a provider that cannot run it is told at create, in the client's
dialect, rather than failing every line later.
"""

from __future__ import annotations

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
RESPONSES = "/v1/responses"

_ENDPOINTS: dict[str, frozenset[str]] = {
    "local": frozenset({CHAT, EMBEDDINGS}),  # the model backend answers both
    "openai": frozenset({CHAT, EMBEDDINGS, RESPONSES}),  # lines pass through as they are
    "azure": frozenset({CHAT, EMBEDDINGS, RESPONSES}),
    "anthropic": frozenset({CHAT}),
    "gemini": frozenset({CHAT}),
    "vertex": frozenset({CHAT}),
    "bedrock": frozenset({CHAT}),
}


def endpoints_of(kind: str) -> frozenset[str]:
    """What a provider of this kind runs."""
    return _ENDPOINTS.get(kind, frozenset())
