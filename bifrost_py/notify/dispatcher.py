"""The background loop that settles ended jobs and delivers their events to [[webhooks]].

Events come from the store's outbox, written in the transaction that ended each job, and a
delivery is recorded before the event is let go, so a restart resumes where it stopped: every
webhook gets each event at least once (a receiver dedupes by the X-Bifrost-Delivery id).
"""

from __future__ import annotations

import logging
import time

import httpx
import orjson

from bifrost_py.config import Config, WebhookConfig
from bifrost_py.domain.job_events import JobEvent, event_body
from bifrost_py.domain.jobs import Job
from bifrost_py.jobs.endings import Endings
from bifrost_py.jobs.periodic import Periodic
from bifrost_py.notify.signature import DELIVERY, EVENT, SIGNATURE, TIMESTAMP, signature
from bifrost_py.ports.outbox import Delivery, Outbox

log = logging.getLogger("bifrost_py.webhooks")
MAX_ATTEMPTS = 20
MAX_DELAY = 3600.0  # with doubling from 1 s, 20 attempts span about 9 hours
BATCH = 100


class Dispatcher(Periodic):
    name = "bifrost-webhooks"
    failing = "settling ended jobs failed"

    def __init__(self, config: Config, endings: Endings, outbox: Outbox,
                 interval: float = 1.0) -> None:
        super().__init__(interval, log)
        self.config = config
        self.endings = endings
        self.outbox = outbox
        self._http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)

    async def stop(self) -> None:
        await super().stop()
        await self._http.aclose()

    async def tick(self) -> None:
        for event in await self.outbox.pending(BATCH):
            await self._handle(event)

    async def _handle(self, event: JobEvent) -> None:
        job = await self.endings.settle(event)
        hooks = [h for h in self.config.webhooks
                 if event.name in h.events and h.tenant in ("", job.tenant)]
        sent = await self.outbox.deliveries(event.event_id)
        waiting = False
        for hook in hooks:
            delivery = sent.get(hook.url)
            if delivery is not None and (delivery.delivered or delivery.attempts >= MAX_ATTEMPTS):
                continue
            if delivery is not None and delivery.next_at > time.time():
                waiting = True
                continue
            waiting |= not await self._deliver(hook, event, job,
                                               delivery.attempts if delivery else 0)
        if not waiting:
            await self.outbox.done(event.event_id, time.time())

    async def _deliver(self, hook: WebhookConfig, event: JobEvent, job: Job,
                       attempts: int) -> bool:
        """One attempt; True when it is settled (delivered, or given up)."""
        server = self.config.server
        body = orjson.dumps(event_body(event, job, server.region, server.account_id))
        now = int(time.time())
        headers = {"Content-Type": "application/json", EVENT: event.name,
                   DELIVERY: event.event_id, TIMESTAMP: str(now),
                   SIGNATURE: signature(hook.secret, now, body)}
        error = await self._post(hook.url, body, headers)
        attempts += 1
        delivered = error is None
        # Delivered: when. Not: when the next attempt may go, twice as long after each failure.
        when = time.time() + (0 if delivered else min(2.0 ** (attempts - 1), MAX_DELAY))
        await self.outbox.attempted(event.event_id, hook.url,
                                    Delivery(attempts, when, delivered), error)
        if not delivered and attempts >= MAX_ATTEMPTS:
            log.error("webhook %s: gave up on %s of job %s after %d attempts (%s)", hook.url,
                      event.name, job.job_id, attempts, error)
        return delivered or attempts >= MAX_ATTEMPTS

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str | None:
        """None when the receiver took it (2xx), else why not."""
        try:
            response = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"unreachable ({type(exc).__name__})"
        return None if response.is_success else f"HTTP {response.status_code}"
