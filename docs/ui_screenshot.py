"""Makes docs/ui.png, the README's picture of /ui: the dashboard as an operator sees it, with a
day of ended jobs behind it, a batch running, and a Bedrock job some of whose records failed.

Run from the repository's root with the test extras installed and Debian's chromium:
`python docs/ui_screenshot.py`.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import tempfile
import time
from pathlib import Path

import boto3
import openai
from playwright.sync_api import sync_playwright

from bifrost_py.domain.jobs import BEDROCK, COMPLETED, OPENAI, Counts, Job, job_arn
from bifrost_py.store.sqlite.store import SqliteStore
from bifrost_py.testing import RunningServer

OUT = Path(__file__).parent / "ui.png"
OPERATOR = "operator-token-0123456789"
TENANTS = {"acme": ("AKIASCREENACME000000", "acme-secret", "acme-token-0123456789"),
           "globex": ("AKIASCREENGLOBEX0000", "globex-secret", "globex-token-0123456789")}
# (provider, model, dollars per million input and output tokens)
MODELS = [("local", "anthropic.claude-3-5-haiku-20241022-v1:0", 0.5, 2.5),
          ("openai", "gpt-4o-mini", 0.075, 0.3), ("gemini", "gemini-2.0-flash", 0.05, 0.2)]
NAMES = ["nightly-summaries", "support-triage", "catalog-enrich", "eval-run", "ticket-tags"]
CONFIG = f"""
[server]
metrics_token = "{OPERATOR}"

[providers.local]
latency_ms = 250
concurrency = 1

[prices]
{chr(10).join(f'"{m}" = {{ input = {i}, output = {o} }}' for _, m, i, o in MODELS)}
""" + "".join(f"""
[[keys]]
access_key_id = "{key}"
secret_access_key = "{secret}"
tenant = "{tenant}"
bearer_token = "{token}"
""" for tenant, (key, secret, token) in TENANTS.items())


async def seed_history(data_dir: Path, now: float) -> None:
    """A day of ended jobs, written straight into the store."""
    rng = random.Random(7)
    store = SqliteStore(data_dir)
    await store.open()
    for n in range(40):
        provider, model, price_in, price_out = rng.choice(MODELS)
        ended = now - rng.uniform(1.2, 23.5) * 3600
        job_id = f"history{n:05d}"
        dialect = rng.choice([BEDROCK, OPENAI])
        records = rng.choice([200, 500, 1000, 2500])
        tokens_in, tokens_out = records * rng.randint(300, 900), records * rng.randint(80, 300)
        job = Job(job_id=job_id, arn=job_arn("us-west-2", "123456789012", job_id),
                  name=f"{rng.choice(NAMES)}-{n:03d}" if dialect == BEDROCK else f"batch_{job_id}",
                  provider=provider, model_id=model,
                  role_arn="", status=COMPLETED, submit_time=ended - 1800,
                  last_modified=ended, input_config={"s3InputDataConfig": {"s3Uri": "s3://in/"}},
                  output_config={"s3OutputDataConfig": {"s3Uri": "s3://out/"}},
                  tenant=rng.choice(list(TENANTS)), dialect=dialect)
        await store.jobs.create(job, [])
        failed = rng.choice([0, 0, 0, records // 50])
        await store.jobs.update(job_id, end_time=ended, counts=Counts(
            records, records, records - failed, failed, tokens_in, tokens_out))
        await store.jobs.set_cost(job_id, (tokens_in * price_in + tokens_out * price_out) / 1e6)
    await store.close()


def chat(i: int, model: str) -> dict[str, object]:
    return {"custom_id": f"request-{i}", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": f"Summarise {i}"}]}}


def batch(server: RunningServer, tenant: str, lines: list[dict[str, object]]) -> None:
    sdk = openai.OpenAI(base_url=server.openai_url, api_key=TENANTS[tenant][2])
    data = "\n".join(json.dumps(line) for line in lines).encode()
    source = sdk.files.create(file=("batch.jsonl", io.BytesIO(data)), purpose="batch")
    sdk.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions",
                       completion_window="24h")


def bedrock_job(server: RunningServer, tenant: str, records: int, bad: int) -> None:
    key, secret, _ = TENANTS[tenant]
    options = {"region_name": "us-west-2", "aws_access_key_id": key,
               "aws_secret_access_key": secret}
    s3 = boto3.client("s3", endpoint_url=server.s3_url, **options)
    s3.create_bucket(Bucket="reviews")
    lines = [json.dumps({"recordId": f"review-{i}", "modelInput": {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
        "messages": [{"role": "user", "content": f"Classify review {i}"}]}})
        for i in range(records)]
    lines += [json.dumps({"recordId": f"broken-{i}", "modelInput": "?"}) for i in range(bad)]
    s3.put_object(Bucket="reviews", Key="in.jsonl", Body="\n".join(lines).encode())
    bedrock = boto3.client("bedrock", endpoint_url=server.bedrock_url,
                           **options)
    bedrock.create_model_invocation_job(
        jobName="review-classifier", modelId=MODELS[0][1],
        roleArn="arn:aws:iam::123456789012:role/BedrockBatchInference",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://reviews/in.jsonl"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://reviews/out/"}})


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        asyncio.run(seed_history(root / "data", time.time()))
        (root / "config.toml").write_text(CONFIG)
        with RunningServer(root / "data", root / "config.toml") as server:
            bedrock_job(server, "acme", 12, 3)
            batch(server, "globex", [chat(i, "gpt-4o-mini") for i in range(10)])
            time.sleep(8)
            batch(server, "acme", [chat(i, MODELS[0][1]) for i in range(40)])
            time.sleep(5)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path="/usr/bin/chromium")
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{server.url}/ui/login")
                page.fill("#token", OPERATOR)
                page.click("form.login button")
                page.wait_for_selector("#chart-tenants svg")
                page.screenshot(path=str(OUT))
                browser.close()


if __name__ == "__main__":
    main()
