"""What the Files and Uploads APIs both check of a file to be: its purpose, its name for that
purpose, and how long it lives."""

from __future__ import annotations

from bifrost_py.errors import InvalidRequestError

PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
MIN_LIFETIME, MAX_LIFETIME = 3600, 2_592_000  # one hour to thirty days


def checked_purpose(purpose: object, filename: str, filename_param: str) -> str:
    if not isinstance(purpose, str) or purpose not in PURPOSES:
        raise InvalidRequestError(f"'{purpose}' is not one of {sorted(PURPOSES)} - 'purpose'",
                                  param="purpose")
    if purpose == "batch" and not filename.endswith(".jsonl"):
        raise InvalidRequestError("Invalid file format for Batch API. Must be .jsonl",
                                  param=filename_param)
    return purpose


def lifetime(anchor: object, seconds: object) -> int:
    """expires_after's seconds, checked: anchored at created_at, one hour to thirty days."""
    if anchor != "created_at" or not isinstance(seconds, int) or isinstance(seconds, bool) or \
            not MIN_LIFETIME <= seconds <= MAX_LIFETIME:
        raise InvalidRequestError(f"expires_after needs anchor created_at and seconds from "
                                  f"{MIN_LIFETIME} to {MAX_LIFETIME}.", param="expires_after")
    return seconds
