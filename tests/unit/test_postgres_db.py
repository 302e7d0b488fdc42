"""The PostgreSQL database handle apart from any store: its SQL translation and its start-up."""

from __future__ import annotations

import asyncio

import pytest

from bifrost_py.store.postgres.db import PostgresDatabase, placeholders
from bifrost_py.store.postgres.store import provider_schema


def test_question_marks_become_psycopg_placeholders_and_percents_stay_literal() -> None:
    assert placeholders("SELECT 1 WHERE a = ? AND b LIKE 'x%'") == (
        "SELECT 1 WHERE a = %s AND b LIKE 'x%%'")


def test_provider_schemas_need_no_quoting() -> None:
    assert provider_schema("openai") == "files_openai"
    assert provider_schema("Team-B.gemini") == "files_team_b_gemini"


def test_an_unreachable_server_stops_start_up_saying_where_without_the_password() -> None:
    db = PostgresDatabase("postgresql://bifrost:s3cret@127.0.0.1:1/state", connect_seconds=0.5)
    with pytest.raises(RuntimeError) as info:
        asyncio.run(db.open())
    assert "127.0.0.1:1/state" in str(info.value) and "s3cret" not in str(info.value)
    assert not db.is_open
