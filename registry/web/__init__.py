"""The registry's web pages for people, under /ui/ (and / leading there): server-rendered,
calling the same domain functions as the API, with a little JavaScript only for upload progress
and live refresh.

- `signin`: the sign-in cookie, scopes and CSRF tokens;
- `catalog_pages`: models, a model, a version, comparing versions, the lineage graph;
- `changes`: the forms that change something (alias, re-run, upload) and downloads;
- `ledger_pages`: the audit log and its verification, and the admins' tokens page;
- `graph`: the lineage graph laid out and drawn as SVG.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, g, redirect, render_template, request, url_for
from markdown_it import MarkdownIt
from markupsafe import Markup

from registry.domain.ledger import audit
from registry.errors import RegistryError, Unauthorized
from registry.web import signin

blueprint = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/ui/static",
)
# Pages anyone may open: signing in, and the files the pages load.
OPEN_ENDPOINTS = frozenset({"web.sign_in", "web.static", "web.home"})
# Model cards are written by any user with `write`: raw HTML in them stays text, and
# markdown-it refuses links to javascript:, vbscript:, file: and data: URLs.
CARD_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


@blueprint.before_request
def check_viewer() -> None:
    signin.identify()
    if request.method == "POST":
        signin.check_csrf()
    if request.endpoint not in OPEN_ENDPOINTS:
        signin.require("read")


blueprint.after_request(signin.keep_csrf_seed)


@blueprint.errorhandler(RegistryError)
def refused(error: RegistryError):
    if isinstance(error, Unauthorized) and signin.viewer() is None:
        return redirect(url_for("web.sign_in", next=request.full_path.rstrip("?")), 303)
    if error.on_record:
        g.keep_on_record = True
    page = render_template("problem.html", title=error.title, detail=str(error))
    return page, error.status


@blueprint.app_context_processor
def page_helpers() -> dict:
    return {
        "viewer": signin.viewer,
        "may": signin.may,
        "csrf_token": signin.csrf_token,
        "csrf_field": csrf_field,
    }


def csrf_field() -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        signin.CSRF_FIELD, signin.csrf_token()
    )


@blueprint.app_template_filter("size")
def size(count: int) -> str:
    """Bytes as a person reads them: 1.4 MB, 812 KB, 96 bytes."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


@blueprint.app_template_filter("when")
def when(moment: datetime | str) -> str:
    """A time to the second, in UTC."""
    return audit.as_utc(
        audit.parse_iso_time(moment) if isinstance(moment, str) else moment
    ).strftime("%Y-%m-%d %H:%M:%S UTC")


@blueprint.app_template_filter("shape")
def shape(dims: list | None) -> str:
    """A tensor shape, unknown dimensions as `?`: [?, 8, 8, 3]."""
    if dims is None:
        return "unknown"
    return "[" + ", ".join("?" if d is None or d < 0 else str(d) for d in dims) + "]"


@blueprint.app_template_filter("markdown")
def markdown(text: str) -> Markup:
    """A model card as HTML, safe to put in a page (see CARD_MARKDOWN)."""
    return Markup(CARD_MARKDOWN.render(text))


SUMMARY_CHARACTERS = 120


@blueprint.app_template_filter("card_summary")
def card_summary(text: str) -> str:
    """A model card's first heading or paragraph as plain text, cut short: what a list of
    models has room for (the whole card is on the model's page)."""
    first = next((token for token in CARD_MARKDOWN.parse(text) if token.type == "inline"), None)
    children = (first.children or []) if first else []
    words = "".join(
        child.content for child in children if child.type in ("text", "code_inline")
    ).strip()
    if len(words) > SUMMARY_CHARACTERS:
        return words[: SUMMARY_CHARACTERS - 1].rstrip() + "…"
    return words


def register(app: Flask) -> None:
    from registry.web import catalog_pages, changes, ledger_pages  # noqa: F401  (their routes)

    app.config["REGISTRY_WEB_KEY"] = signin.web_key(app.extensions["registry"].settings)
    app.register_blueprint(blueprint)


@blueprint.get("/")
def home():
    return redirect(url_for("web.models"), 302)
