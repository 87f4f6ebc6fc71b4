"""Redis databases for the brokers of test runs and benchmarks that run side by side.

Two runs must never share a broker: a worker of one would take the other's jobs. Each run
leases one of Redis databases 1-15 under a key in database 0; a lease outlives a killed run
by at most an hour. A database some client is still connected to is passed over even when its
lease is gone: a worker a killed run left behind still takes whatever reaches its queue.
"""

from __future__ import annotations

import os

import redis

REDIS_URL = "redis://127.0.0.1:6379"
LEASE_KEY = "tf-registry-tests:broker-db:{}"
LEASE_SECONDS = 3600
SOCKET_TIMEOUT_SECONDS = 5


def lease_database() -> int:
    """An emptied Redis database no other run holds; release it with `release_database`."""
    leases = redis.Redis.from_url(f"{REDIS_URL}/0", socket_timeout=SOCKET_TIMEOUT_SECONDS)
    in_use = {int(client["db"]) for client in leases.client_list()}
    for db in range(1, 16):
        if db in in_use:
            continue
        if leases.set(LEASE_KEY.format(db), os.getpid(), nx=True, ex=LEASE_SECONDS):
            redis.Redis.from_url(database_url(db), socket_timeout=SOCKET_TIMEOUT_SECONDS).flushdb()
            return db
    raise RuntimeError("every Redis database 1-15 is leased by other runs")


def release_database(db: int) -> None:
    leases = redis.Redis.from_url(f"{REDIS_URL}/0", socket_timeout=SOCKET_TIMEOUT_SECONDS)
    leases.delete(LEASE_KEY.format(db))


def database_url(db: int) -> str:
    return f"{REDIS_URL}/{db}"
