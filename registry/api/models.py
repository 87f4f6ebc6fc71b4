"""Models and their aliases."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from registry.api.auth import actor, requires
from registry.api.shapes import alias_shape, model_shape
from registry.api.unit_of_work import db
from registry.domain import catalog
from registry.domain.catalog import aliases
from registry.errors import InvalidRequest

blueprint = Blueprint("models", __name__, url_prefix="/api/v1")


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequest("send a JSON object with Content-Type: application/json")
    return body


@blueprint.post("/models")
def create_model():
    """Create a model.

    Uploading a version also creates its model when missing; this sets a description and tags.
    ---
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: NewModel
      responses:
        201:
          description: The new model.
          content:
            application/json:
              schema: Model
        409: Conflict
        422: Invalid
    """
    body = json_body()
    tags = body.get("tags") or {}
    if not isinstance(tags, dict):
        raise InvalidRequest("tags must be a JSON object")
    session = db()
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
    """List and search models, a page at a time.
    ---
    get:
      parameters:
        - name: q
          in: query
          description: only models whose name contains this text
          schema: {type: string}
        - name: tag
          in: query
          description: "`key:value`: only models with this tag"
          schema: {type: string}
        - Cursor
      responses:
        200:
          description: A page of models.
          content:
            application/json:
              schema: ModelList
        422: Invalid
    """
    session = db()
    models, cursor = catalog.list_models(
        session,
        query=request.args.get("q", ""),
        tag=request.args.get("tag", ""),
        cursor=request.args.get("cursor", ""),
    )
    return jsonify(models=[model_shape(m) for m in models], next_cursor=cursor)


@blueprint.get("/models/<name>")
def get_model(name: str):
    """One model, its aliases and latest version number.
    ---
    get:
      responses:
        200:
          description: The model.
          content:
            application/json:
              schema: Model
        404: NotFound
    """
    session = db()
    model = catalog.get_model(session, name)
    latest = model.versions[-1] if model.versions else None
    return jsonify(model_shape(model, latest))


@blueprint.put("/models/<name>/aliases/<alias>")
@requires("admin")
def set_alias(name: str, alias: str):
    """Point an alias at a version, creating or moving it.

    A version with a variant that failed parity or failed to convert is refused unless the
    body says `"force": true`; the refusal and the forced move are both audited.
    ---
    put:
      requestBody:
        required: true
        content:
          application/json:
            schema: AliasTarget
      responses:
        200:
          description: The alias as it now points.
          content:
            application/json:
              schema: Alias
        404: NotFound
        409: AliasRefused
        422: Invalid
    """
    body = json_body()
    version, force = body.get("version"), body.get("force", False)
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidRequest('send {"version": N} with the version number the alias points at')
    if not isinstance(force, bool):
        raise InvalidRequest('"force" must be true or false')
    moved = aliases.set_alias(db(), name, alias, version, actor(), force=force)
    return jsonify(alias_shape(moved))


@blueprint.delete("/models/<name>/aliases/<alias>")
@requires("admin")
def remove_alias(name: str, alias: str):
    """Remove an alias.
    ---
    delete:
      responses:
        204:
          description: Removed.
        404: NotFound
    """
    session = db()
    aliases.remove_alias(session, name, alias, actor())
    return "", 204
