"""The forms that change something (move an alias, re-run conversions, upload a version) and
downloads: each calls what the API calls, and answers with the page to look at next."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from registry.api import versions as api_versions
from registry.api.auth import actor
from registry.api.unit_of_work import db
from registry.domain import catalog
from registry.domain.catalog import aliases, uploads
from registry.errors import InvalidRequest
from registry.vocabulary import OPTIONAL_TARGETS
from registry.web import blueprint, catalog_pages, signin


@blueprint.post("/ui/models/<name>/aliases")
def move_alias(name: str):
    signin.require("admin")
    alias, number = request.form.get("alias", "").strip(), request.form.get("version", "")
    if not number.isdigit():
        raise InvalidRequest(f"choose a version number to point {alias!r} at")
    force = request.form.get("force") == "on"
    try:
        aliases.set_alias(db(), name, alias, int(number), actor(), force=force)
    except aliases.AliasGated as refusal:
        g.keep_on_record = True  # the refusal's audit event is kept, as through the API
        shown = {"alias": alias, "version": int(number), **refusal.extra}
        return catalog_pages.model_page(name, refusal=shown), 409
    return redirect(url_for("web.model", name=name), 303)


@blueprint.post("/ui/models/<name>/versions/<ref>/conversions")
def rerun(name: str, ref: str):
    signin.require("write")
    session = db()
    version = catalog.resolve_version(session, catalog.get_model(session, name), ref)
    uploads.rerun_conversions(session, version, request.form.getlist("targets"), actor())
    return redirect(url_for("web.version", name=name, ref=str(version.number)), 303)


@blueprint.get("/ui/upload")
def upload_form():
    signin.require("write")
    return render_template(
        "upload.html", model=request.args.get("model", "").strip(), optional=OPTIONAL_TARGETS
    )


@blueprint.post("/ui/models/<name>/versions")
def upload(name: str):
    """The API's upload, streamed the same way; then the new version's page."""
    signin.require("write")
    accepted = api_versions.upload_version(name)
    number = accepted.get_json()["version"]
    return redirect(url_for("web.version", name=name, ref=str(number)), 303)


@blueprint.get("/ui/models/<name>/versions/<ref>/artifacts/<kind>")
def download(name: str, ref: str, kind: str):
    """The API's download (sha256 checked as it streams, ranges, ETag)."""
    return api_versions.download_artifact(name, ref, kind)
