"""Webhooks over HTTP: an admin registers, lists and removes endpoints and reads deliveries."""

from __future__ import annotations

from flask import Blueprint, jsonify

from registry.api import bodies, services, shapes
from registry.api.auth import actor, requires
from registry.api.unit_of_work import db
from registry.domain import webhooks

blueprint = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks")


@blueprint.post("")
@requires("admin")
def register_webhook():
    """Register an endpoint for events; its signing secret is in the answer, this once.
    ---
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: NewWebhook
      responses:
        201:
          description: The endpoint and its secret.
          content:
            application/json:
              schema: IssuedWebhook
        422: Invalid
    """
    body = bodies.json_body(bodies.NewWebhook())
    issued = webhooks.register_endpoint(
        db(),
        body["url"],
        body["events"],
        actor(),
        secret=body["secret"],
        allow_private=services().settings.webhook_allow_private,
    )
    answer = shapes.dump(
        shapes.IssuedWebhook,
        {**shapes.dump(shapes.Webhook, issued.record), "secret": issued.secret},
    )
    return jsonify(answer), 201


@blueprint.get("")
@requires("admin")
def list_webhooks():
    """List the endpoints, never their secrets.
    ---
    get:
      responses:
        200:
          description: The endpoints.
          content:
            application/json:
              schema: WebhookList
    """
    listed = webhooks.list_endpoints(db())
    return jsonify(shapes.dump(shapes.WebhookList, {"webhooks": listed}))


@blueprint.delete("/<int:webhook_id>")
@requires("admin")
def remove_webhook(webhook_id: int):
    """Remove an endpoint; deliveries still waiting for it are cancelled.
    ---
    delete:
      responses:
        204:
          description: Removed.
        404: NotFound
    """
    webhooks.remove_endpoint(db(), webhook_id, actor())
    return "", 204


@blueprint.get("/<int:webhook_id>/deliveries")
@requires("admin")
def list_deliveries(webhook_id: int):
    """An endpoint's deliveries, newest first: status, attempts, last answer and error.
    ---
    get:
      parameters:
        - in: query
          schema: DeliveryQuery
      responses:
        200:
          description: A page of deliveries.
          content:
            application/json:
              schema: DeliveryPage
        404: NotFound
        422: Invalid
    """
    asked = bodies.query(bodies.DeliveryQuery())
    session = db()
    endpoint = webhooks.get_endpoint(session, webhook_id)
    deliveries, cursor = webhooks.list_deliveries(
        session, endpoint.id, cursor=asked["cursor"], limit=asked["limit"]
    )
    return jsonify(
        shapes.dump(shapes.DeliveryPage, {"deliveries": deliveries, "next_cursor": cursor})
    )
