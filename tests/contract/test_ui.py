"""/ui over HTTP: who may log in and what the cookie holds, what each tenant and the operator see
of jobs, outputs and usage, that user text is escaped, and that downloads stream the outputs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from bedrock_helpers import wait_for
from openai_helpers import client, file_lines
from ui_helpers import (
    ALPHA,
    BETA,
    OPERATOR_TOKEN,
    PRICES,
    SCRIPT_MODEL,
    SCRIPT_NAME,
    batch_lines,
    dashboard_server,
    logged_in,
    run_batch,
    run_bedrock_job,
    seed_named_job,
)

from bifrost_py.testing import RunningServer


@dataclass(frozen=True)
class World:
    server: RunningServer
    alpha_batch: str  # alpha's OpenAI batch: 2 answered, 1 failed, on SCRIPT_MODEL
    alpha_named: str  # alpha's job named SCRIPT_NAME
    beta_job: str  # beta's Bedrock job: 3 records and a line that is not JSON
    beta_bucket: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("ui")
    named = seed_named_job(directory / "data", ALPHA.name, SCRIPT_NAME)
    with dashboard_server(directory) as server:
        beta_job, bucket = run_bedrock_job(server, BETA, 3)
        yield World(server, run_batch(server, ALPHA, batch_lines(2)), named, beta_job, bucket)


@pytest.fixture(scope="module")
def alpha(world: World) -> Iterator[httpx.Client]:
    with logged_in(world.server, ALPHA.token) as browser:
        yield browser


@pytest.fixture(scope="module")
def operator(world: World) -> Iterator[httpx.Client]:
    with logged_in(world.server, OPERATOR_TOKEN) as browser:
        yield browser


def anonymous(world: World) -> httpx.Client:
    return httpx.Client(base_url=world.server.url, timeout=10)


def job_ids(browser: httpx.Client) -> set[str]:
    response = browser.get("/ui/api/jobs")
    assert response.status_code == 200, response.text
    return {job["id"] for job in response.json()["jobs"]}


def test_pages_redirect_to_the_login_and_the_api_answers_401(world: World) -> None:
    with anonymous(world) as browser:
        for path in ("/ui", "/ui/", f"/ui/jobs/{world.beta_job}"):
            response = browser.get(path)
            assert (response.status_code, response.headers["location"]) == (303, "/ui/login")
        for path in ("/ui/api/jobs", "/ui/api/usage", f"/ui/api/jobs/{world.beta_job}"):
            response = browser.get(path)
            assert response.status_code == 401 and "login" in response.json()["error"]
        form = browser.get("/ui/login")
        assert form.status_code == 200 and 'name="token"' in form.text
        assert browser.get("/ui/static/ui.js").status_code == 200


@pytest.mark.parametrize("token", ["wrong-token", ALPHA.secret, ALPHA.access_key, ""])
def test_a_login_with_anything_but_a_token_is_refused(world: World, token: str) -> None:
    with anonymous(world) as browser:
        response = browser.post("/ui/login", data={"token": token})
        assert response.status_code == 401 and "set-cookie" not in response.headers
        assert "neither a key" in response.text


def test_a_login_form_past_its_bound_is_refused(world: World) -> None:
    with anonymous(world) as browser:
        response = browser.post("/ui/login", data={"token": "x" * 5000})
        assert response.status_code == 400 and "set-cookie" not in response.headers


def test_a_login_sets_a_signed_httponly_strict_cookie_that_holds_no_token(world: World) -> None:
    with anonymous(world) as browser:
        response = browser.post("/ui/login", data={"token": ALPHA.token})
        assert (response.status_code, response.headers["location"]) == (303, "/ui/")
        cookie = response.headers["set-cookie"]
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "path", "max-age", "samesite"} <= flags
        assert "Path=/ui" in cookie and "SameSite=strict" in cookie
        assert ALPHA.token not in cookie and ALPHA.secret not in cookie
        assert browser.get("/ui/").status_code == 200

        value = browser.cookies["bifrost_ui"]
        payload, signature = value.split(".")
        forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
        browser.cookies.set("bifrost_ui", f"{forged}.{signature}", path="/ui")
        assert browser.get("/ui/api/jobs").status_code == 401


def test_logout_clears_the_cookie(world: World) -> None:
    with logged_in(world.server, ALPHA.token) as browser:
        response = browser.post("/ui/logout")
        assert (response.status_code, response.headers["location"]) == (303, "/ui/login")
        assert "Max-Age=0" in response.headers["set-cookie"]
        assert browser.get("/ui/api/jobs").status_code == 401


def test_a_tenant_sees_its_own_jobs_of_both_dialects_and_no_others(
        world: World, alpha: httpx.Client) -> None:
    assert job_ids(alpha) == {world.alpha_batch, world.alpha_named}
    with logged_in(world.server, BETA.token) as beta:
        assert job_ids(beta) == {world.beta_job}
    page = alpha.get("/ui/")
    assert world.alpha_batch in page.text and world.beta_job not in page.text


def test_another_tenants_job_its_outputs_and_its_api_entry_are_not_found(
        world: World, alpha: httpx.Client) -> None:
    assert alpha.get(f"/ui/jobs/{world.beta_job}").status_code == 404
    assert alpha.get(f"/ui/api/jobs/{world.beta_job}").status_code == 404
    output = f"/ui/jobs/{world.beta_job}/outputs/in.jsonl.out"
    assert alpha.get(output).status_code == 404
    with logged_in(world.server, BETA.token) as beta:
        assert beta.get(output).status_code == 200


def test_the_operator_sees_every_tenants_jobs_and_usage(world: World,
                                                         operator: httpx.Client) -> None:
    assert job_ids(operator) == {world.alpha_batch, world.alpha_named, world.beta_job}
    usage = operator.get("/ui/api/usage").json()
    assert {series["name"] for series in usage["tenants"]} == {"alpha", "beta"}
    page = operator.get("/ui/")
    assert "<th>Tenant</th>" in page.text and "operator" in page.text


def test_usage_sums_a_tenants_records_tokens_and_cost_per_provider(
        world: World, alpha: httpx.Client) -> None:
    # A job's cost is stored just after it ends; usage sums the stored costs.
    usage = wait_for(lambda: alpha.get("/ui/api/usage?window=24h").json(),
                     lambda found: sum(found["providers"][0]["cost"]) > 0)
    assert "tenants" not in usage and len(usage["starts"]) == 24
    (local,) = usage["providers"]
    job = alpha.get(f"/ui/api/jobs/{world.alpha_batch}").json()
    assert sum(local["records"]) == job["processed"] == 3
    assert sum(local["input_tokens"]) == job["input_tokens"] > 0
    assert sum(local["cost"]) == pytest.approx(job["cost"])
    week = alpha.get("/ui/api/usage?window=7d").json()
    assert sum(week["providers"][0]["records"]) == 3
    assert alpha.get("/ui/api/usage?window=1y").status_code == 400


def test_the_jobs_api_gives_progress_tokens_and_the_priced_cost(
        world: World, alpha: httpx.Client) -> None:
    job = alpha.get(f"/ui/api/jobs/{world.alpha_batch}").json()
    assert (job["status"], job["dialect"], job["provider"], job["model"]) == (
        "Completed", "openai", "local", SCRIPT_MODEL)
    assert (job["total"], job["processed"], job["success"], job["errors"]) == (3, 3, 2, 1)
    assert job["success_pct"] == pytest.approx(66.67) and job["error_pct"] == pytest.approx(33.33)
    expected = (job["input_tokens"] * PRICES[0] + job["output_tokens"] * PRICES[1]) / 1e6
    assert job["cost"] == pytest.approx(expected) and not job["cost_estimated"]
    assert job["progress_text"] == "3 / 3, 1 failed"


def test_names_models_and_error_text_are_escaped(world: World, alpha: httpx.Client) -> None:
    pages = [alpha.get("/ui/").text, alpha.get(f"/ui/jobs/{world.alpha_named}").text,
             alpha.get(f"/ui/jobs/{world.alpha_batch}").text]
    for html in pages:
        assert "<script>alert" not in html
        assert all(src.startswith("/ui/static/") for src in re.findall(r'<script src="([^"]*)"',
                                                                          html))
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in pages[0]
    assert "&lt;script&gt;alert(&#39;model&#39;)&lt;/script&gt;" in pages[2]
    assert "script-src 'self'" in alpha.get("/ui/").headers["content-security-policy"]


def test_a_batchs_page_shows_its_failed_requests_and_streams_its_files(
        world: World, alpha: httpx.Client) -> None:
    page = alpha.get(f"/ui/jobs/{world.alpha_batch}").text
    assert "messages must be a list" in page and "request-2" in page
    sdk = client(world.server.openai_url, api_key=ALPHA.token)
    batch = sdk.batches.retrieve(f"batch_{world.alpha_batch}")
    for file_id in (batch.output_file_id, batch.error_file_id):
        assert file_id is not None and f"/outputs/{file_id}" in page
        download = alpha.get(f"/ui/jobs/{world.alpha_batch}/outputs/{file_id}")
        assert download.status_code == 200
        assert download.content == sdk.files.content(file_id).content
        assert download.headers["content-disposition"].startswith("attachment;")
    assert set(file_lines(sdk, batch.error_file_id)) == {"request-2"}


def test_a_bedrock_jobs_page_shows_its_error_lines_and_streams_its_outputs(
        world: World) -> None:
    with logged_in(world.server, BETA.token) as beta:
        page = beta.get(f"/ui/jobs/{world.beta_job}").text
        assert "Failed records" in page
        links = re.findall(r'href="(/ui/jobs/[a-z0-9]+/outputs/[^"]+)"', page)
        assert {link.rsplit("/", 1)[1] for link in links} == {"in.jsonl.out", "manifest.json.out"}
        s3 = BETA.boto(world.server, "s3")
        for link in links:
            key = f"out/{world.beta_job}/{link.rsplit('/', 1)[1]}"
            stored = s3.get_object(Bucket=world.beta_bucket, Key=key)["Body"].read()
            assert beta.get(link).content == stored


def test_dashboard_requests_are_logged_and_counted_like_every_mount(
        world: World, alpha: httpx.Client) -> None:
    alpha.get("/ui/api/jobs")
    metrics = httpx.get(f"{world.server.url}/metrics",
                        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).text
    counted = re.search(r'bifrost_requests_total\{mount="ui",operation="api_jobs",'
                        r'status="200"\} (\d+)', metrics)
    assert counted and int(counted.group(1)) >= 1


def test_a_server_without_keys_shows_everything_without_a_login(tmp_path: Path) -> None:
    with dashboard_server(tmp_path, keys=False) as server, httpx.Client(
            base_url=server.url, timeout=10) as browser:
        job = run_batch(server, ALPHA, batch_lines(1))
        assert browser.get("/ui/login").headers["location"] == "/ui/"
        assert job_ids(browser) == {job}
        page = browser.get("/ui/")
        assert page.status_code == 200 and "Log out" not in page.text
        assert "tenants" in browser.get("/ui/api/usage").json()
