"""pytest rewrites the asserts of test_*.py and conftest.py files only; the checks the
test_fuzz_signed_* modules share live in helper modules, and their failures should say as much."""

import pytest

pytest.register_assert_rewrite("tests.contract.fuzz_signed", "tests.contract.fuzz_signed_fixtures")
