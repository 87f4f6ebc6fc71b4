"""Models and their aliases."""

from __future__ import annotations

from flask import Blueprint, jsonify

from registry.api import bodies, shapes
from registry.api.answers import revalidated
from registry.api.auth import actor, requires
from registry.api.unit_of_work import db
from registry.domain import catalog
from registry.domain.catalog import aliases, lifecycle

blueprint = Blueprint("models", __name__, url_prefix="/api/v1")


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
    body = bodies.json_body(bodies.NewModel())
    session = db()
    model = catalog.create_model(
        session,
        body["name"],
        description=body["description"],
        tags=body["tags"],
        actor=actor(),
    )
    return jsonify(shapes.Model().dump(model)), 201


@blueprint.get("/models")
def list_models():
    """List and search models, a page at a time.
    ---
    get:
      parameters:
        - in: query
          schema: ModelQuery
      responses:
        200:
          description: A page of models.
          content:
            application/json:
              schema: ModelList
        422: Invalid
    """
    asked = bodies.query(bodies.ModelQuery())
    session = db(read_only=True)
    models, cursor = catalog.list_models(
        session,
        query=asked["q"],
        tag=asked["tag"],
        cursor=asked["cursor"],
    )
    return jsonify(shapes.dump(shapes.ModelList, {"models": models, "next_cursor": cursor}))


@blueprint.get("/models/<name>")
def get_model(name: str):
    """One model, its aliases and latest version number.
    ---
    get:
      parameters:
        - name: If-None-Match
          in: header
          description: the ETag of the answer held; 304 while it is still current
          schema: {type: string}
      responses:
        200:
          description: The model.
          headers:
            ETag: AnswerETag
          content:
            application/json:
              schema: Model
        304:
          description: Not modified; no body.
        404: NotFound
    """
    model = catalog.get_model(db(read_only=True), name, with_aliases=True)
    return revalidated(shapes.dump(shapes.Model, model))


@blueprint.delete("/models/<name>")
@requires("admin")
def delete_model(name: str):
    """Delete a model and all its versions, refused while it has aliases.

    The records are kept and the name is not given to a new model; reads answer 410.
    ---
    delete:
      responses:
        200:
          description: The model and the versions marked deleted with it.
          content:
            application/json:
              schema: Deletion
        404: NotFound
        409: Aliased
    """
    deletion = lifecycle.delete_model(db(), name, actor())
    return jsonify(shapes.Deletion().dump(deletion))


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
    body = bodies.json_body(bodies.AliasTarget())
    version, force = body["version"], body["force"]
    moved = aliases.set_alias(db(), name, alias, version, actor(), force=force)
    return jsonify(shapes.Alias().dump(moved))


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
