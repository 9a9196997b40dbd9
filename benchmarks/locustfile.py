"""Locust users for benchmarks/bench_web_load.py: every page a buyer or provider opens most.

BENCH_TARGETS names the JSON file the benchmark wrote (session cookies, slugs, ids);
BENCH_USER_RATE is each user's requests per second."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from locust import HttpUser, constant_throughput, task

TARGETS = json.loads(Path(os.environ["BENCH_TARGETS"]).read_text(encoding="utf-8"))


class MarketUser(HttpUser):
    wait_time = constant_throughput(float(os.environ.get("BENCH_USER_RATE", "2")))

    def on_start(self) -> None:
        name = TARGETS["cookie_name"]
        self.buyer = {name: TARGETS["buyer_session"]}
        self.provider = {name: TARGETS["provider_session"]}

    def get(self, url: str, name: str, cookies: dict) -> None:
        # Anything but 200 is an error: a redirect to the login page means a broken session.
        with self.client.get(
            url, name=name, cookies=cookies, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")

    @task
    def catalogue(self) -> None:
        self.get("/data/", "catalogue", self.buyer)

    @task
    def search(self) -> None:
        self.get("/data/?q=contract+storage", "search", self.buyer)

    @task
    def filters(self) -> None:
        tag = random.choice(TARGETS["tags"])
        self.get(f"/data/?tag={tag}&sort=price_asc", "filters", self.buyer)

    @task
    def listing(self) -> None:
        self.get(f"/data/{random.choice(TARGETS['slugs'])}/", "listing page", self.buyer)

    @task
    def results_first(self) -> None:
        self.get(f"/valuation/jobs/{TARGETS['job_id']}/results/", "job results p1", self.buyer)

    @task
    def results_deep(self) -> None:
        page = TARGETS["deep_page"]
        url = f"/valuation/jobs/{TARGETS['job_id']}/results/?page={page}"
        self.get(url, "job results deep", self.buyer)

    @task
    def scores_api(self) -> None:
        url = f"/api/valuation/jobs/{TARGETS['job_id']}/scores/"
        self.get(url, "scores API", self.buyer)

    @task
    def quote(self) -> None:
        self.get(f"/payments/quotes/{TARGETS['quote_id']}/", "quote", self.buyer)

    @task
    def payouts(self) -> None:
        self.get("/payments/payouts/", "payout report", self.provider)
