"""Models and versions: naming, creating, finding and listing them."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from registry.db.models import Alias, Model, ModelTag, ModelVersion
from registry.domain.catalog.cards import check_card_size
from registry.domain.ledger import audit
from registry.domain.ledger.cursors import decode_cursor, encode_cursor
from registry.errors import Gone, InvalidRequest, ModelNotFound, VersionNotFound
from registry.vocabulary import could_be_name, validate_name

UNSAFE_FILENAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")
PAGE_SIZE = 50
# The largest number the version column holds (a 32-bit integer on PostgreSQL).
MAX_VERSION_NUMBER = 2**31 - 1
VERSION_NUMBER = re.compile(r"[0-9]{1,10}")
# What a version's answer shows, loaded with it: never one query per artifact, job or alias.
VERSION_PARTS = (ModelVersion.artifacts, ModelVersion.jobs, ModelVersion.aliases)
# What a model's answer shows: its aliases and the numbers they point at.
MODEL_ALIASES = joinedload(Model.aliases).joinedload(Alias.version)
# The longest tag key and value (as text) search indexes.
MAX_TAG_KEY, MAX_TAG_VALUE = 128, 256


class ModelExists(InvalidRequest):
    status = 409
    title = "Model already exists"


class Deleted(Gone):
    """A deleted model or version, with when and by whom (problem members of their own)."""

    def __init__(self, what: str, row: Model | ModelVersion) -> None:
        deleted_at = audit.iso_time(row.deleted_at)
        super().__init__(
            f"{what} was deleted at {deleted_at} by {row.deleted_by}; its history stays in the "
            "audit log"
        )
        self.extra = {"deleted_at": deleted_at, "deleted_by": row.deleted_by}


class ModelDeleted(Deleted):
    title = "Model deleted"

    def __init__(self, model: Model) -> None:
        super().__init__(f"model {model.name!r}", model)


class VersionDeleted(Deleted):
    title = "Version deleted"

    def __init__(self, version: ModelVersion) -> None:
        super().__init__(f"version {version.number} of {version.model.name!r}", version)


def safe_filename(filename: str) -> str:
    """An uploaded file's name reduced to a harmless base name (it is offered back to clients
    in Content-Disposition, where a `../` or a quote would become their problem)."""
    if not filename:
        return ""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return UNSAFE_FILENAME_CHARACTERS.sub("_", base).lstrip(".")[-255:] or "upload"


def create_model(
    session: Session,
    name: str,
    *,
    description: str = "",
    tags: dict[str, Any] | None = None,
    actor: str = "anonymous",
) -> Model:
    validate_name("model", name)
    check_card_size(len(description.encode()))
    existing = session.scalar(select(Model).where(Model.name == name))
    if existing is not None and existing.deleted_at is not None:
        raise ModelExists(
            f"model {name!r} existed and was deleted; a name is not reused (its audit events "
            "and lineage still name it): choose another"
        )
    if existing is not None:
        raise ModelExists(f"model {name!r} already exists")
    tags = tags or {}
    model = Model(
        name=name,
        description=description,
        tags=tags,
        tag_index=tag_index(name, tags),
        created_by=actor,
    )
    session.add(model)
    session.flush()
    _record_created(session, model)
    return model


def _record_created(session: Session, model: Model) -> None:
    audit.record(
        session,
        model.created_by,
        "model.created",
        audit.model_subject(model.name),
        model=model.name,
        details={"description": model.description, "tags": model.tags},
    )


def get_or_create_model(session: Session, name: str, actor: str) -> Model:
    """The model named `name`, created if missing; safe against a concurrent creation."""
    model = session.scalar(select(Model).where(Model.name == name))
    if model is not None:
        return live(model)
    validate_name("model", name)
    try:
        with session.begin_nested():
            model = Model(name=name, created_by=actor)
            session.add(model)
    except IntegrityError:
        return session.scalar(select(Model).where(Model.name == name))
    _record_created(session, model)  # after the savepoint: recorded only if it was ours
    return model


def get_model(session: Session, name: str, *, with_aliases: bool = False) -> Model:
    """The live model called `name`; `with_aliases` loads its aliases and their versions too,
    in the same query."""
    model = None
    if could_be_name(name):
        statement = select(Model).where(Model.name == name)
        if with_aliases:
            statement = statement.options(MODEL_ALIASES)
        model = session.scalars(statement).unique().one_or_none()
    if model is None:
        raise ModelNotFound(f"no model named {name!r}; create it or upload a version to it")
    return live(model)


def live(model: Model) -> Model:
    """The model, unless it was deleted."""
    if model.deleted_at is not None:
        raise ModelDeleted(model)
    return model


def tag_text(value: Any) -> str:
    """A tag's value as search compares it: `team:vision`, `layers:3`, `public:True`."""
    return str(value)


def tag_index(name: str, tags: dict[str, Any]) -> list[ModelTag]:
    """The search index rows of a model's tags; refused for a tag too long to index."""
    rows = []
    for key, value in tags.items():
        text = tag_text(value)
        if len(key) > MAX_TAG_KEY or len(text) > MAX_TAG_VALUE:
            raise InvalidRequest(
                f"tag {key[:40]!r} is too long to search by: keys may have {MAX_TAG_KEY} "
                f"characters and values {MAX_TAG_VALUE}"
            )
        rows.append(ModelTag(key=key, value=text, model_name=name))
    return rows


def list_models(
    session: Session, *, query: str = "", tag: str = "", cursor: str = ""
) -> tuple[list[Model], str | None]:
    """A page of models by name, filtered by a name substring and a `key:value` tag.

    Both walk an index in name order from the cursor and stop once the page is full: a tag
    search reads `ix_model_tags_search` (key, value, name), so a tag on ten models and one on
    ten thousand cost the same page.
    """
    statement = page_of_models(select(Model), query=query, tag=tag, cursor=cursor)
    models = list(
        session.scalars(statement.options(selectinload(Model.aliases).joinedload(Alias.version)))
    )
    if len(models) > PAGE_SIZE:
        return models[:PAGE_SIZE], encode_cursor(models[PAGE_SIZE - 1].name)
    return models, None


def page_of_models(statement: Select, *, query: str, tag: str, cursor: str) -> Select:
    """`statement`, selecting from models, narrowed to live models matching `query` and `tag`
    after `cursor`, in name order: a page and one more row (see `list_models`)."""
    if tag:
        tag_key, _, tag_value = tag.partition(":")
        name = ModelTag.model_name
        statement = statement.join(ModelTag, ModelTag.model_id == Model.id).where(
            ModelTag.key == tag_key, ModelTag.value == tag_value
        )
    else:
        name = Model.name
    statement = statement.where(Model.deleted_at.is_(None))
    if query:
        statement = statement.where(name.contains(query, autoescape=True))
    if cursor:
        statement = statement.where(name > decode_cursor(cursor))
    return statement.order_by(name).limit(PAGE_SIZE + 1)


def allocate_version_number(session: Session, model: Model) -> int:
    """The next version number, taken under the model row's write lock: no gaps, no twins.

    Numbers of deleted versions are never handed out again. A model deleted while this waited
    for the lock is refused.
    """
    number, deleted_at = session.execute(
        update(Model)
        .where(Model.id == model.id)
        .values(last_version_number=Model.last_version_number + 1)
        .returning(Model.last_version_number, Model.deleted_at)
    ).one()
    if deleted_at is not None:
        session.refresh(model)
        raise ModelDeleted(model)
    return number


def latest_version(session: Session, model: Model) -> ModelVersion | None:
    """The newest version of `model` not deleted; None when it has none."""
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.model_id == model.id, ModelVersion.deleted_at.is_(None))
        .order_by(ModelVersion.number.desc())
        .limit(1)
    )


def version_reference(ref: str) -> tuple[str | None, str | int | None]:
    """How `ref` names a version: `("latest", None)`, `("number", n)`, `("alias", name)`, or
    `(None, None)` when it can name none."""
    if ref == "latest":
        return "latest", None
    if VERSION_NUMBER.fullmatch(ref):
        number = int(ref)
        return ("number", number) if number <= MAX_VERSION_NUMBER else (None, None)
    if could_be_name(ref):
        return "alias", ref
    return None, None


def resolve_version(session: Session, model: Model, ref: str) -> ModelVersion:
    """A version of `model` by number, alias or `latest` (the newest one not deleted).

    A deleted version is refused as such (410), not as unknown: its number stays taken.
    """
    statement = select(ModelVersion).where(ModelVersion.model_id == model.id)
    version = None
    kind, value = version_reference(ref)
    if kind == "latest":
        statement = statement.where(ModelVersion.deleted_at.is_(None))
        statement = statement.order_by(ModelVersion.number.desc()).limit(1)
    elif kind == "number":
        statement = statement.where(ModelVersion.number == value)
    elif kind == "alias":
        statement = statement.join(Alias, Alias.version_id == ModelVersion.id).where(
            Alias.model_id == model.id, Alias.name == value
        )
    else:
        statement = None
    if statement is not None:
        parts = (joinedload(part) for part in VERSION_PARTS)
        version = session.scalars(statement.options(*parts)).unique().one_or_none()
        if version is not None:
            # The caller's model, not a second query for it once the session lets it go.
            set_committed_value(version, "model", model)
    if version is None:
        raise VersionNotFound(
            f"model {model.name!r} has no version {ref!r} (refer to a version by number, "
            f"an alias or 'latest')"
        )
    if version.deleted_at is not None:
        raise VersionDeleted(version)
    return version


def list_versions(
    session: Session, model: Model, *, cursor: str = "", newest_first: bool = False
) -> tuple[list[ModelVersion], str | None]:
    """A page of a model's versions, oldest first (or newest first), and the next cursor."""
    number = ModelVersion.number
    statement = select(ModelVersion).where(
        ModelVersion.model_id == model.id, ModelVersion.deleted_at.is_(None)
    )
    if cursor:
        after = int(decode_cursor(cursor))
        statement = statement.where(number < after if newest_first else number > after)
    order = number.desc() if newest_first else number
    statement = statement.options(*(selectinload(part) for part in VERSION_PARTS))
    versions = list(session.scalars(statement.order_by(order).limit(PAGE_SIZE + 1)))
    for version in versions:
        set_committed_value(version, "model", model)
    if len(versions) > PAGE_SIZE:
        return versions[:PAGE_SIZE], encode_cursor(versions[PAGE_SIZE - 1].number)
    return versions, None
