"""What the read-only API views answer, read from rows rather than ORM objects.

A version, a model or a page of either is read by one statement for the rows themselves (a
model joined with the version asked for, or with its aliases) and one for what hangs off them:
a version's parts (artifacts, jobs and alias names together, one row each), a page of models'
aliases. The statements are built once;
only the columns the answer shows are selected; no object enters an identity map.

Each read gives plain objects (`SimpleNamespace`) carrying the attributes of the ORM rows they
stand for that the answers use (`number`, `model.name`, `artifacts`, `jobs`, `aliases`,
`artifact.parent.kind`...), so the API dumps them through the same response shapes. Errors are
those of `catalog.get_model` and `catalog.resolve_version`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from registry.db.models import Alias, Artifact, ConversionJob, Model, ModelVersion
from registry.domain.catalog.models import (
    PAGE_SIZE,
    ModelDeleted,
    VersionDeleted,
    page_of_models,
    version_reference,
)
from registry.domain.ledger.cursors import decode_cursor, encode_cursor
from registry.errors import InvalidRequest, ModelNotFound, VersionNotFound
from registry.vocabulary import could_be_name

models, versions = Model.__table__, ModelVersion.__table__
artifacts, jobs, aliases = Artifact.__table__, ConversionJob.__table__, Alias.__table__
parents = artifacts.alias("parents")

MODEL = (
    models.c.id.label("model_id"),
    models.c.name.label("model_name"),
    models.c.deleted_at.label("model_deleted_at"),
    models.c.deleted_by.label("model_deleted_by"),
)
VERSION = tuple(
    versions.c[name]
    for name in (
        "id",
        "number",
        "status",
        "status_detail",
        "source_kind",
        "source_filename",
        "signature",
        "options",
        "inferred_outputs",
        "tags",
        "compatibility",
        "created_at",
        "created_by",
        "deleted_at",
        "deleted_by",
    )
)
VERSION_NAMES = tuple(column.name for column in VERSION)

# A version's parts, one row each, told apart by `part`; each part fills its own columns (typed
# NULLs in the others) and names its version.
PARTS: dict[str, tuple[Any, ColumnElement, Sequence[ColumnElement]]] = {
    "artifact": (
        artifacts.outerjoin(parents, parents.c.id == artifacts.c.parent_id),
        artifacts.c.version_id,
        (
            artifacts.c.id,
            artifacts.c.kind,
            artifacts.c.sha256,
            artifacts.c.size,
            artifacts.c.packaging,
            artifacts.c.filename,
            artifacts.c.job_id,
            artifacts.c.facts,
            artifacts.c.parity,
            artifacts.c.parity_passed,
            parents.c.kind.label("parent_kind"),
        ),
    ),
    "job": (
        jobs,
        jobs.c.version_id,
        (
            jobs.c.id,
            jobs.c.target_kind,
            jobs.c.status,
            jobs.c.error,
            jobs.c.attempts,
            jobs.c.created_at,
            jobs.c.started_at,
            jobs.c.finished_at,
            jobs.c.outcome,
        ),
    ),
    "alias": (
        aliases,
        aliases.c.version_id,
        (aliases.c.name,),
    ),
}


def _label(part: str, column: ColumnElement) -> str:
    return f"{part}_{column.name}"


def _parts_statement() -> Select:
    """Every part of the versions `version_ids`: artifacts and jobs by id, aliases by name."""
    everything = [(part, column) for part, (_, _, columns) in PARTS.items() for column in columns]
    branches = []
    for part, (source, version_id, _) in PARTS.items():
        columns = [
            (column if owner == part else cast(null(), column.type)).label(_label(owner, column))
            for owner, column in everything
        ]
        branches.append(
            select(
                literal_column(f"'{part}'").label("part"), version_id.label("version_id"), *columns
            )
            .select_from(source)
            .where(version_id.in_(bindparam("version_ids", expanding=True)))
        )
    union = union_all(*branches).subquery()
    return select(union).order_by(
        union.c.part, union.c.artifact_id, union.c.job_id, union.c.alias_name
    )


PARTS_OF_VERSIONS = _parts_statement()
PART_LABELS = {
    part: [(column.name, _label(part, column)) for column in columns]
    for part, (_, _, columns) in PARTS.items()
}


def _version_statement(on: ColumnElement) -> Select:
    """The model named `name` and, when one matches `on`, its version."""
    return (
        select(*MODEL, *VERSION)
        .select_from(models.outerjoin(versions, and_(versions.c.model_id == models.c.id, on)))
        .where(models.c.name == bindparam("name"))
    )


VERSION_BY = {
    "number": _version_statement(versions.c.number == bindparam("number")),
    "alias": _version_statement(
        versions.c.id
        == select(aliases.c.version_id)
        .where(aliases.c.model_id == models.c.id, aliases.c.name == bindparam("alias"))
        .correlate(models)
        .scalar_subquery()
    ),
    "latest": _version_statement(
        versions.c.number
        == select(func.max(versions.c.number))
        .where(versions.c.model_id == models.c.id, versions.c.deleted_at.is_(None))
        .correlate(models)
        .scalar_subquery()
    ),
}
VERSION_PAGE = (
    _version_statement(
        and_(versions.c.deleted_at.is_(None), versions.c.number > bindparam("after"))
    )
    .order_by(versions.c.number)
    .limit(PAGE_SIZE + 1)
)


MODEL_ANSWERED = (
    *MODEL,
    models.c.description,
    models.c.description_from_version,
    models.c.tags,
    models.c.created_at,
    models.c.created_by,
    Model.latest_version_number.expression.label("latest_version_number"),
)
ALIAS = (aliases.c.name.label("alias_name"), versions.c.number.label("alias_version"))
ALIASES_JOINED = models.outerjoin(aliases, aliases.c.model_id == models.c.id).outerjoin(
    versions, versions.c.id == aliases.c.version_id
)
MODEL_WITH_ALIASES = (
    select(*MODEL_ANSWERED, *ALIAS)
    .select_from(ALIASES_JOINED)
    .where(models.c.name == bindparam("name"))
    .order_by(aliases.c.name)
)
ALIASES_OF_MODELS = (
    select(aliases.c.model_id, *ALIAS)
    .join(versions, versions.c.id == aliases.c.version_id)
    .where(aliases.c.model_id.in_(bindparam("model_ids", expanding=True)))
    .order_by(aliases.c.model_id, aliases.c.name)
)


def read_model(session: Session, name: str) -> SimpleNamespace:
    """The model `name` with its aliases (each with a `version.number`) and latest version."""
    if not could_be_name(name):
        raise _no_model(name)
    rows = session.connection().execute(MODEL_WITH_ALIASES, {"name": name}).all()
    model = _model(_live_model(rows, name), rows[0])
    model.aliases += [_alias(row) for row in rows if row.alias_name is not None]
    return model


def read_models(
    session: Session, *, query: str = "", tag: str = "", cursor: str = ""
) -> tuple[list[SimpleNamespace], str | None]:
    """A page of live models by name, as `catalog.list_models` finds them, with their aliases."""
    connection = session.connection()
    statement = page_of_models(select(*MODEL_ANSWERED), query=query, tag=tag, cursor=cursor)
    page = [_model(_model_named(row), row) for row in connection.execute(statement)]
    next_cursor = None
    if len(page) > PAGE_SIZE:
        page = page[:PAGE_SIZE]
        next_cursor = encode_cursor(page[-1].name)
    if page:
        by_id = {model.id: model for model in page}
        for row in connection.execute(ALIASES_OF_MODELS, {"model_ids": list(by_id)}):
            by_id[row.model_id].aliases.append(_alias(row))
    return page, next_cursor


def _model(model: SimpleNamespace, row) -> SimpleNamespace:
    vars(model).update(
        description=row.description,
        description_from_version=row.description_from_version,
        tags=row.tags,
        created_at=row.created_at,
        created_by=row.created_by,
        latest_version_number=row.latest_version_number,
        aliases=[],
    )
    return model


def _alias(row) -> SimpleNamespace:
    return SimpleNamespace(name=row.alias_name, version=SimpleNamespace(number=row.alias_version))


def read_version(session: Session, name: str, ref: str) -> SimpleNamespace:
    """The version `ref` (a number, an alias or `latest`) of the model `name`, with its parts."""
    kind, value = version_reference(ref)
    if not could_be_name(name):
        raise _no_model(name)
    # A reference that can name no version still tells a missing or deleted model first; no
    # version has the number 0.
    statement = VERSION_BY[kind or "number"]
    connection = session.connection()
    rows = connection.execute(statement, {"name": name, kind or "number": value or 0}).all()
    model = _live_model(rows, name)
    if rows[0].id is None:
        raise VersionNotFound(
            f"model {name!r} has no version {ref!r} (refer to a version by number, "
            f"an alias or 'latest')"
        )
    version = _version(rows[0], model)
    if version.deleted_at is not None:
        raise VersionDeleted(version)
    _add_parts(connection, [version])
    return version


def read_versions(
    session: Session, name: str, cursor: str = ""
) -> tuple[list[SimpleNamespace], str | None]:
    """A page of the model's live versions, oldest first, with their parts; and the next
    cursor."""
    if not could_be_name(name):
        raise _no_model(name)
    connection = session.connection()
    try:
        after = int(decode_cursor(cursor)) if cursor else 0
    except InvalidRequest:
        # A missing or deleted model is told before a bad cursor, as it always was.
        _live_model(connection.execute(VERSION_PAGE, {"name": name, "after": 0}).all(), name)
        raise
    rows = connection.execute(VERSION_PAGE, {"name": name, "after": after}).all()
    model = _live_model(rows, name)
    page = [_version(row, model) for row in rows if row.id is not None]
    next_cursor = None
    if len(page) > PAGE_SIZE:
        page = page[:PAGE_SIZE]
        next_cursor = encode_cursor(page[-1].number)
    _add_parts(connection, page)
    return page, next_cursor


def _no_model(name: str) -> ModelNotFound:
    return ModelNotFound(f"no model named {name!r}; create it or upload a version to it")


def _live_model(rows: Sequence, name: str) -> SimpleNamespace:
    if not rows:
        raise _no_model(name)
    model = _model_named(rows[0])
    if model.deleted_at is not None:
        raise ModelDeleted(model)
    return model


def _model_named(row) -> SimpleNamespace:
    return SimpleNamespace(
        id=row.model_id,
        name=row.model_name,
        deleted_at=row.model_deleted_at,
        deleted_by=row.model_deleted_by,
    )


def _version(row, model: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(
        **dict(zip(VERSION_NAMES, row[len(MODEL) :], strict=True)),
        model=model,
        artifacts=[],
        jobs=[],
        aliases=[],
    )


def _add_parts(connection: Connection, page: list[SimpleNamespace]) -> None:
    if not page:
        return
    by_id = {version.id: version for version in page}
    rows = connection.execute(PARTS_OF_VERSIONS, {"version_ids": list(by_id)}).mappings()
    for row in rows:
        part = row["part"]
        version = by_id[row["version_id"]]
        found = SimpleNamespace(**{name: row[label] for name, label in PART_LABELS[part]})
        if part == "artifact":
            kind = found.__dict__.pop("parent_kind")
            found.parent = None if kind is None else SimpleNamespace(kind=kind)
            found.version = version
            version.artifacts.append(found)
        elif part == "job":
            version.jobs.append(found)
        else:
            version.aliases.append(found)
