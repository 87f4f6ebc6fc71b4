"""Model cards: a model's markdown description, set by hand or taken from an upload.

A card set by hand (creating the model with a description, or setting it) stays until set
again. Until then, each uploaded SavedModel carrying `assets.extra/README.md` makes that file
the card, and the model records which version it came from. Cards are at most
MODEL_CARD_MAX_BYTES of UTF-8; each change is an audit event naming its sha256 and size.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from registry.db.models import Model, ModelVersion
from registry.domain.ledger import audit
from registry.errors import ModelCardTooLarge
from registry.vocabulary import MODEL_CARD_MAX_BYTES, MODEL_CARD_MEMBER


def check_card_size(size: int) -> None:
    """Refuse a card of `size` bytes (UTF-8) over the limit."""
    if size > MODEL_CARD_MAX_BYTES:
        raise ModelCardTooLarge(
            f"the model card is {size} bytes; a card may have at most {MODEL_CARD_MAX_BYTES} "
            "bytes of markdown: link to longer documents instead"
        )


def set_card(session: Session, model: Model, text: str, actor: str) -> None:
    """Set the model's card by hand: uploads no longer replace it."""
    check_card_size(len(text.encode()))
    _change(session, model, text, None, actor)


def card_from_upload(session: Session, version: ModelVersion, text: str | None) -> None:
    """Make an upload's README.md the model's card, unless a card was set by hand."""
    model = version.model
    if text is None or (model.description and model.description_from_version is None):
        return
    _change(session, model, text, version.number, version.created_by)


def _change(
    session: Session, model: Model, text: str, from_version: int | None, actor: str
) -> None:
    model.description, model.description_from_version = text, from_version
    encoded = text.encode()
    source = (
        "set by hand" if from_version is None else f"version {from_version} {MODEL_CARD_MEMBER}"
    )
    audit.record(
        session,
        actor,
        "model.card_set",
        audit.model_subject(model.name),
        model=model.name,
        details={
            "sha256": hashlib.sha256(encoded).hexdigest(),
            "size": len(encoded),
            "source": source,
        },
    )
