"""Pages about who did what: signing in and out, the audit log and its chain, the tokens."""

from __future__ import annotations

from flask import make_response, redirect, render_template, request, url_for

from registry.api.auth import actor, forget_revoked
from registry.api.unit_of_work import db
from registry.domain.ledger import audit, tokens
from registry.errors import Unauthorized
from registry.web import blueprint, signin

AUDIT_PAGE_SIZE = 50
FILTERS = ("model", "actor", "action", "since", "until")


@blueprint.route("/ui/sign-in", methods=["GET", "POST"])
def sign_in():
    next_page = request.values.get("next", "")
    # Only back to a page of this site, never to another one named in a link.
    if not next_page.startswith("/ui/") or next_page.startswith("//"):
        next_page = url_for("web.models")
    if request.method == "GET":
        return render_template("sign_in.html", next_page=next_page, error="")
    response = make_response(redirect(next_page, 303))
    try:
        signin.sign_in(response, request.form.get("token", "").strip())
    except Unauthorized as refusal:
        page = render_template("sign_in.html", next_page=next_page, error=str(refusal))
        return page, 401
    return response


@blueprint.post("/ui/sign-out")
def sign_out():
    response = make_response(redirect(url_for("web.sign_in"), 303))
    signin.sign_out(response)
    return response


@blueprint.get("/ui/audit")
def audit_log():
    asked = {key: request.args.get(key, "").strip() for key in FILTERS}
    events, next_cursor = audit.list_events(
        db(),
        audit.EventFilter.from_query(asked),
        cursor=request.args.get("cursor", ""),
        limit=AUDIT_PAGE_SIZE,
    )
    verdict = audit.verify_chain(db()) if request.args.get("verify") else None
    return render_template(
        "audit.html", events=events, asked=asked, next_cursor=next_cursor, verdict=verdict
    )


@blueprint.route("/ui/tokens", methods=["GET", "POST"])
def token_list():
    signin.require("admin")
    session = db()
    issued = None
    if request.method == "POST":
        issued = tokens.create_token(
            session,
            request.form.get("name", "").strip(),
            request.form.get("scope", "read"),
            actor(),
            expires_at=tokens.parse_expiry(request.form.get("expires", "").strip()),
        )
    listed = [tokens.describe(token) for token in tokens.list_tokens(session)]
    return render_template("tokens.html", tokens=listed, issued=issued, scopes=tokens.SCOPES)


@blueprint.post("/ui/tokens/<name>/revoke")
def revoke(name: str):
    signin.require("admin")
    tokens.revoke_token(db(), name, actor())
    forget_revoked(name)
    return redirect(url_for("web.token_list"), 303)
