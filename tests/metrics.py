"""Reading /metrics the way Prometheus does, into samples a test can look up."""

from __future__ import annotations

import time

import requests
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base_url: str) -> Samples:
    """Every sample of `base_url`/metrics, keyed by (name, sorted label pairs)."""
    response = requests.get(f"{base_url}/metrics", timeout=10)
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample_key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def scrape_until(base_url: str, condition, timeout: float = 5.0) -> Samples:
    """Scrape until `condition(samples)` holds or time is up; returns the last scrape.

    A request is counted when its last byte has gone out, which can be just after the client
    has read its response, so a scrape right after a request may miss it.
    """
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(base_url)
        if condition(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)
