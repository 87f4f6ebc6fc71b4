"""What an alias named at a time, read from a long audit log: the (subject, time) index
against the same look-up without it.

    .venv/bin/python -m bench.alias_history [--events 200000] [--runs 50]
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]

A fresh PostgreSQL schema gets an audit log of N alias events spread over 2,000 aliases of
1,000 models (rows inserted directly: the hash chain is not what is measured), and one model
whose `production` alias moved between three versions. `alias_history.version_at` answers
what `production` named at times across its history, `--runs` times each way: with the index
the migration adds, then with it dropped (the baseline, in the same run). The plans are
printed too.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert, text

from registry.db import make_engine, make_sessionmaker, upgrade
from registry.db.models import AuditEvent, Model, ModelVersion
from registry.domain.catalog import alias_history
from registry.domain.ledger import audit

MODELS = 1000
BATCH = 10_000
START = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = "bench-target"


def fill(engine, events: int) -> list[datetime]:
    """The audit log, and the times of the target alias's three moves."""
    rows, moves = [], []
    step = timedelta(seconds=1)
    for seq in range(1, events + 1):
        model = f"m{seq % MODELS}"
        alias = "production" if seq % 2 else "staging"
        rows.append(
            {
                "seq": seq,
                "time": START + seq * step,
                "actor": "bench",
                "action": "alias.moved",
                "subject": audit.alias_subject(model, alias),
                "model": model,
                "details": {"version": seq % 7 + 1, "previous_version": seq % 5 + 1},
                "prev_hash": "0" * 64,
                "hash": "0" * 64,
            }
        )
        if seq in (events // 4, events // 2, 3 * events // 4):
            number = len(moves) + 1
            moves.append(START + seq * step + step / 2)
            rows.append(
                {
                    **rows[-1],
                    "seq": events + number,
                    "time": moves[-1],
                    "action": "alias.set" if number == 1 else "alias.moved",
                    "subject": audit.alias_subject(TARGET, "production"),
                    "model": TARGET,
                    "details": {"version": number, "previous_version": number - 1 or None},
                }
            )
        if len(rows) >= BATCH:
            _insert(engine, rows)
    _insert(engine, rows)
    return moves


def _insert(engine, rows: list[dict]) -> None:
    if not rows:
        return
    with engine.begin() as connection:
        connection.execute(insert(AuditEvent), rows)
    rows.clear()


def timed_lookups(sessions, moves: list[datetime], runs: int) -> tuple[float, list[int]]:
    """Median milliseconds of one as-of read, and what each move's time answered."""
    seconds, answered = [], []
    with sessions() as session:
        model = session.query(Model).filter_by(name=TARGET).one()
        for _ in range(runs):
            for at in moves:
                began = time.perf_counter()
                version = alias_history.version_at(session, model, "production", at.isoformat())
                seconds.append(time.perf_counter() - began)
                answered.append(version.number)
    return statistics.median(seconds) * 1000, answered[: len(moves)]


def plan(engine, at: datetime) -> str:
    with engine.connect() as connection:
        return "\n".join(
            row[0]
            for row in connection.execute(
                text(
                    "EXPLAIN SELECT * FROM audit_events WHERE subject = :subject AND time <= :at "
                    "AND action IN ('alias.set', 'alias.moved', 'alias.removed') "
                    "ORDER BY time DESC, seq DESC LIMIT 1"
                ),
                {"subject": audit.alias_subject(TARGET, "production"), "at": at},
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    options = parser.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(options.database, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{options.database}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        with sessions.begin() as session:
            model = Model(name=TARGET, last_version_number=3)
            session.add(model)
            for number in (1, 2, 3):
                session.add(ModelVersion(model=model, number=number, source_kind="keras"))
        moves = fill(engine, options.events)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE audit_events"))
        indexed, answers = timed_lookups(sessions, moves, options.runs)
        indexed_plan = plan(engine, moves[1])
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_audit_events_subject_time"))
            connection.execute(text("ANALYZE audit_events"))
        scanned, baseline_answers = timed_lookups(sessions, moves, options.runs)
        scanned_plan = plan(engine, moves[1])
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()

    assert answers == baseline_answers == [1, 2, 3], (answers, baseline_answers)
    print(f"audit log: {options.events} alias events; {options.runs} x {len(moves)} as-of reads")
    print("| as-of read, median | ms | ratio |")
    print("|---|---|---|")
    print(f"| without the (subject, time) index (baseline) | {scanned:.2f} | |")
    print(f"| with the index | {indexed:.2f} | {scanned / indexed:.0f}x faster |")
    print("\nplan with the index:\n" + indexed_plan)
    print("\nplan without it:\n" + scanned_plan)


if __name__ == "__main__":
    main()
