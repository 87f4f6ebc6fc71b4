"""Aliases (`production`, `staging`): pointing them at versions, gated by parity."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.models import Alias, Model, utcnow
from registry.domain.catalog import models as catalog
from registry.domain.jobs import version_problems
from registry.domain.ledger import audit
from registry.errors import Conflict, VersionNotFound
from registry.vocabulary import could_be_name, validate_name


class AliasGated(Conflict):
    """The version has variants that failed parity or failed to convert."""

    title = "Version failed its checks"
    # Someone tried to promote a failing model: the refusal's audit event is kept.
    on_record = True

    def __init__(self, detail: str, failures: list[dict]) -> None:
        super().__init__(detail)
        self.extra = {"failures": failures}


def set_alias(
    session: Session,
    model_name: str,
    alias_name: str,
    version_number: int,
    actor: str,
    *,
    force: bool = False,
) -> Alias:
    """Point an alias at a version. A version with failed variants is refused unless forced.

    A refusal records its audit event and raises `AliasGated`, whose unit of work commits
    anyway; a forced move records the figures it overrode.
    """
    validate_name("alias", alias_name)
    model = locked_model(session, model_name)
    version = catalog.resolve_version(session, model, str(version_number))
    alias = session.get(Alias, (model.id, alias_name))
    previous = alias.version.number if alias else None
    failures = [_figures(problem) for problem in version_problems(version)]
    details = {"version": version.number, "previous_version": previous}
    subject = audit.alias_subject(model.name, alias_name)
    if failures and not force:
        details["failures"] = failures
        audit.record(session, actor, "alias.refused", subject, model=model.name, details=details)
        raise AliasGated(
            f"version {version.number} of {model.name!r} has failed variants "
            f'({"; ".join(f["summary"] for f in failures)}); send "force": true to move '
            f"{alias_name!r} anyway",
            failures,
        )
    if alias is None:
        alias = Alias(model_id=model.id, name=alias_name, version_id=version.id)
        session.add(alias)
    alias.version = version
    alias.updated_at = utcnow()
    alias.updated_by = actor
    session.flush()
    if failures:
        details.update(forced=True, failures=failures)
    action = "alias.set" if previous is None else "alias.moved"
    audit.record(session, actor, action, subject, model=model.name, details=details)
    return alias


def locked_model(session: Session, name: str) -> Model:
    """The model, its row locked until the transaction ends: concurrent alias changes (and
    deletions) of one model take turns, so each sees the model as the previous one left it."""
    model = catalog.get_model(session, name)
    session.execute(
        select(Model)
        .where(Model.id == model.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return catalog.live(model)


def remove_alias(session: Session, model_name: str, alias_name: str, actor: str) -> None:
    model = locked_model(session, model_name)
    alias = session.get(Alias, (model.id, alias_name)) if could_be_name(alias_name) else None
    if alias is None:
        raise VersionNotFound(f"model {model.name!r} has no alias {alias_name!r}")
    audit.record(
        session,
        actor,
        "alias.removed",
        audit.alias_subject(model.name, alias_name),
        model=model.name,
        details={"version": alias.version.number},
    )
    session.delete(alias)
    session.flush()


def _figures(problem: dict) -> dict:
    """A failure as the refusal and the audit event show it: the kind, what failed, and the
    parity figures per output (or the conversion error)."""
    figures = {key: problem[key] for key in ("kind", "problem", "job_id", "summary")}
    if "error" in problem:
        figures["error"] = problem["error"]
    parity = problem.get("parity") or {}
    if parity:
        figures["parity"] = {
            "reason": parity.get("reason"),
            "inputs": parity.get("inputs"),
            "outputs": parity.get("outputs", {}),
        }
    return figures
