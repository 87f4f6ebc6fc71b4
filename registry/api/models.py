"""Models and their aliases."""

from __future__ import annotations

from flask import Blueprint, jsonify

from registry.api import bodies, shapes
from registry.api.answers import revalidated
from registry.api.auth import actor, requires
from registry.api.unit_of_work import db
from registry.domain import catalog
from registry.domain.catalog import alias_history as history
from registry.domain.catalog import aliases, cards, lifecycle, reads

blueprint = Blueprint("models", __name__, url_prefix="/api/v1")
# Searches load their query through one instance: building a schema costs more than loading.
MODEL_QUERY = bodies.ModelQuery()


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
    return jsonify(shapes.dump(shapes.Model, model)), 201


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
    asked = bodies.query(MODEL_QUERY)
    session = db(read_only=True)
    models, cursor = reads.read_models(
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
    model = reads.read_model(db(read_only=True), name)
    return revalidated(shapes.dump(shapes.Model, model))


@blueprint.put("/models/<name>/readme")
def set_readme(name: str):
    """Set the model's card: its description, in markdown (at most 256 KiB).

    The markdown itself may also be sent as the body, with `Content-Type: text/markdown`
    (not declared below: any bytes are some markdown, so there is no invalid example of it to
    publish). A card set here stays until set again: uploads carrying
    `assets.extra/README.md` no longer replace it. The web page shows it rendered, without
    raw HTML.
    ---
    put:
      requestBody:
        required: true
        content:
          application/json:
            schema: ModelCard
      responses:
        200:
          description: The model, with its new card.
          content:
            application/json:
              schema: Model
        404: NotFound
        413: TooLarge
        422: Invalid
    """
    text = bodies.model_card_text()
    session = db()
    model = catalog.get_model(session, name)
    cards.set_card(session, model, text, actor())
    return jsonify(shapes.dump(shapes.Model, model))


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
    return jsonify(shapes.dump(shapes.Deletion, deletion))


@blueprint.put("/models/<name>/aliases/<alias>")
@requires("admin")
def set_alias(name: str, alias: str):
    """Point an alias at a version, creating or moving it.

    Refused unless the body says `"force": true`: a version with a variant that failed
    parity or failed to convert, and a version whose signature breaks clients of the version
    the alias names now (`breaking` lists each change). The refusal and the forced move are
    both audited.
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
    return jsonify(shapes.dump(shapes.Alias, moved))


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


@blueprint.get("/models/<name>/aliases/<alias>/history")
def alias_history(name: str, alias: str):
    """An alias's changes from the audit log, oldest first, a page at a time.

    Who moved it when, from which version to which, and the gates' figures; refused moves
    too. A forced move is a set or moved change that says `forced`.
    ---
    get:
      parameters:
        - in: query
          schema: AliasHistoryQuery
      responses:
        200:
          description: A page of changes.
          content:
            application/json:
              schema: AliasHistory
        404: NotFound
        422: Invalid
    """
    asked = bodies.query(bodies.AliasHistoryQuery())
    session = db()
    model = catalog.get_model(session, name)
    changes, cursor = history.alias_history(
        session, model, alias, cursor=asked["cursor"], limit=asked["limit"]
    )
    page = {"model": model.name, "alias": alias, "changes": changes, "next_cursor": cursor}
    return jsonify(shapes.dump(shapes.AliasHistory, page))


@blueprint.post("/models/<name>/aliases/<alias>/rollback")
@requires("admin")
def rollback_alias(name: str, alias: str):
    """Move an alias back to the version it named before its current one.

    Through the same gates as any move (`"force": true` passes them), and audited as a move
    that says `rollback`.
    ---
    post:
      requestBody:
        content:
          application/json:
            schema: AliasRollback
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
    force = bodies.json_body(bodies.AliasRollback(), required=False)["force"]
    moved = aliases.rollback_alias(db(), name, alias, actor(), force=force)
    return jsonify(shapes.dump(shapes.Alias, moved))
