"""Models and their aliases."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from registry.api import services
from registry.api.shapes import alias_shape, model_shape
from registry.domain import catalog
from registry.domain.errors import InvalidRequest

blueprint = Blueprint("models", __name__, url_prefix="/api/v1")


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequest("send a JSON object with Content-Type: application/json")
    return body


def actor() -> str:
    """Who is writing; tokens (and so named actors) arrive with the access-control work."""
    return "anonymous"


@blueprint.post("/models")
def create_model():
    body = json_body()
    tags = body.get("tags") or {}
    if not isinstance(tags, dict):
        raise InvalidRequest("tags must be a JSON object")
    with services().sessions.begin() as session:
        model = catalog.create_model(
            session,
            str(body.get("name", "")),
            description=str(body.get("description", "")),
            tags=tags,
            actor=actor(),
        )
        return jsonify(model_shape(model)), 201


@blueprint.get("/models")
def list_models():
    with services().sessions() as session:
        models, cursor = catalog.list_models(
            session,
            query=request.args.get("q", ""),
            tag=request.args.get("tag", ""),
            cursor=request.args.get("cursor", ""),
        )
        return jsonify(models=[model_shape(m) for m in models], next_cursor=cursor)


@blueprint.get("/models/<name>")
def get_model(name: str):
    with services().sessions() as session:
        model = catalog.get_model(session, name)
        latest = model.versions[-1] if model.versions else None
        return jsonify(model_shape(model, latest))


@blueprint.put("/models/<name>/aliases/<alias>")
def set_alias(name: str, alias: str):
    version = json_body().get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidRequest('send {"version": N} with the version number the alias points at')
    with services().sessions.begin() as session:
        model = catalog.get_model(session, name)
        return jsonify(alias_shape(catalog.set_alias(session, model, alias, version, actor())))


@blueprint.delete("/models/<name>/aliases/<alias>")
def remove_alias(name: str, alias: str):
    with services().sessions.begin() as session:
        catalog.remove_alias(session, catalog.get_model(session, name), alias)
    return "", 204
