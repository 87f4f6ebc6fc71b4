"""Pages that read the catalog: models, a model, a version, two versions compared, lineage."""

from __future__ import annotations

from flask import render_template, request

from registry.api.unit_of_work import db
from registry.domain import catalog
from registry.domain.catalog import comparison, lineage
from registry.domain.jobs import latest_jobs, version_problems
from registry.domain.ledger import audit
from registry.web import blueprint, graph

# Alias history shown on a model's page: its most recent changes.
ALIAS_HISTORY_LIMIT = 1000
SETTLED = frozenset({"ready", "failed"})


@blueprint.get("/ui/")
def models():
    query, tag = request.args.get("q", ""), request.args.get("tag", "")
    session = db()
    found, next_cursor = catalog.list_models(
        session, query=query, tag=tag, cursor=request.args.get("cursor", "")
    )
    rows = [(model, catalog.latest_version(session, model)) for model in found]
    return render_template("models.html", rows=rows, q=query, tag=tag, next_cursor=next_cursor)


@blueprint.get("/ui/models/<name>")
def model(name: str):
    return model_page(name)


def model_page(name: str, refusal: dict | None = None) -> str:
    """A model's page: versions newest first, aliases and their history, and, after a refused
    alias move, the refusal with its figures."""
    session = db()
    found = catalog.get_model(session, name)
    versions, next_cursor = catalog.list_versions(
        session, found, cursor=request.args.get("cursor", ""), newest_first=True
    )
    history, _ = audit.list_events(
        session, audit.EventFilter(model=name, action="alias.*"), limit=ALIAS_HISTORY_LIMIT
    )
    return render_template(
        "model.html",
        model=found,
        versions=versions,
        next_cursor=next_cursor,
        history=list(reversed(history)),
        refusal=refusal,
    )


@blueprint.get("/ui/models/<name>/versions/<ref>")
def version(name: str, ref: str):
    session = db()
    found = catalog.resolve_version(session, catalog.get_model(session, name), ref)
    return render_template(
        "version.html",
        version=found,
        jobs=latest_jobs(found),
        problems=version_problems(found),
        live=found.status not in SETTLED,
    )


@blueprint.get("/ui/models/<name>/compare")
def compare(name: str):
    session = db()
    found = catalog.get_model(session, name)
    latest = found.last_version_number
    before_ref = request.args.get("a") or str(max(latest - 1, 1))
    after_ref = request.args.get("b") or str(max(latest, 1))
    before = catalog.resolve_version(session, found, before_ref)
    after = catalog.resolve_version(session, found, after_ref)
    return render_template(
        "compare.html",
        model=found,
        before=before,
        after=after,
        endpoints=comparison.compare_signatures(before, after),
        variants=comparison.compare_variants(before, after),
    )


@blueprint.get("/ui/models/<name>/versions/<ref>/lineage")
def version_lineage(name: str, ref: str):
    session = db()
    found = catalog.resolve_version(session, catalog.get_model(session, name), ref)
    drawn = lineage.lineage_of(found)
    return render_template(
        "lineage.html", version=found, lineage=drawn, drawing=graph.layout(drawn)
    )


@blueprint.get("/ui/artifacts/<sha256>")
def holders(sha256: str):
    return render_template(
        "holders.html", sha256=sha256.lower(), holders=lineage.holders_of(db(), sha256)
    )
