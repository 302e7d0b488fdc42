"""Requests validated against botocore's `bedrock` model, as AWS validates them."""

from __future__ import annotations

import re
import time

import botocore.session
import pytest

from bifrost_py.errors import ValidationException
from bifrost_py.wire.bedrock import shapes

LIST = shapes.operation("ListModelInvocationJobs")


def _model_patterns() -> set[str]:
    model = botocore.session.get_session().get_service_model("bedrock")
    return {p for name in model.shape_names
            if (p := model.shape_for(name).metadata.get("pattern"))}


@pytest.mark.parametrize("name", ["batch", "my-batch-job-2024", "a--b", "a-", "A.b+c"])
def test_names_the_pattern_admits_are_accepted(name: str) -> None:
    assert shapes.decode(LIST, {}, {"nameContains": name}, b"")["nameContains"] == name


@pytest.mark.parametrize("name", ["-a", "a!", "a b", "é", "a" + "-" * 20 + "!"])
def test_names_the_pattern_refuses_are_validation_errors(name: str) -> None:
    with pytest.raises(ValidationException, match="regular expression pattern"):
        shapes.decode(LIST, {}, {"nameContains": name}, b"")


def test_a_name_of_dashes_is_refused_without_backtracking() -> None:
    """Backtracking takes ~6 s of CPU on this name (x4 per two more dashes); RE2 microseconds."""
    started = time.process_time()
    with pytest.raises(ValidationException):
        shapes.decode(LIST, {}, {"nameContains": "a" + "-" * 26 + "!"}, b"")
    assert time.process_time() - started < 1


def test_only_patterns_with_counts_over_re2s_limit_are_matched_by_re() -> None:
    """RE2 refuses counted repetitions over 1000; everything else gets its linear matching."""
    patterns = _model_patterns()
    assert len(patterns) > 50
    by_re = {p for p in patterns if isinstance(shapes._pattern(p), re.Pattern)}
    assert by_re == {p for p in patterns if re.search(r"\{\d*,?\d{4,}\}", p)}
