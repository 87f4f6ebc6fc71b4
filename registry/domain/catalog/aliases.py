"""Aliases (`production`, `staging`): pointing them at versions, gated by parity and by
signature compatibility, and rolling them back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.models import Alias, Model, utcnow
from registry.domain.catalog import alias_history
from registry.domain.catalog import models as catalog
from registry.domain.catalog.comparison import compare_versions
from registry.domain.jobs import version_problems
from registry.domain.ledger import audit
from registry.errors import Conflict, VersionNotFound
from registry.vocabulary import could_be_name, validate_name


class AliasGated(Conflict):
    """The version has variants that failed parity or failed to convert."""

    title = "Version failed its checks"
    # Someone tried to promote a failing model: the refusal's audit event is kept.
    on_record = True

    def __init__(self, detail: str, failures: list[dict], breaking: list[dict]) -> None:
        super().__init__(detail)
        self.extra = {"failures": failures, "breaking": breaking}


class AliasIncompatible(AliasGated):
    """The version's signature breaks clients of the version the alias names now."""

    title = "Version breaks the alias's clients"


class NoEarlierVersion(Conflict):
    title = "Nothing to roll back to"


def set_alias(
    session: Session,
    model_name: str,
    alias_name: str,
    version_number: int,
    actor: str,
    *,
    force: bool = False,
    rollback: bool = False,
) -> Alias:
    """Point an alias at a version. Refused unless forced: a version with failed variants
    (`AliasGated`), and one whose signature breaks clients of the version the alias names now
    (`AliasIncompatible`).

    A refusal records its audit event and raises, and its unit of work commits anyway; a
    forced move records the figures it overrode. `rollback` marks a move back (its event says
    so).
    """
    validate_name("alias", alias_name)
    model = locked_model(session, model_name)
    version = catalog.resolve_version(session, model, str(version_number))
    alias = session.get(Alias, (model.id, alias_name))
    previous = alias.version.number if alias else None
    failures = [_figures(problem) for problem in version_problems(version)]
    details = {"version": version.number, "previous_version": previous}
    if rollback:
        details["rollback"] = True
    breaking = []
    if alias is not None and alias.version.signature and version.signature:
        comparison = compare_versions(alias.version, version)
        breaking = [change.as_dict() for change in comparison.breaking]
        details["signature"] = {
            "verdict": comparison.verdict,
            "breaking": len(breaking),
            "changes": len(comparison.changes),
        }
    subject = audit.alias_subject(model.name, alias_name)
    if (failures or breaking) and not force:
        details.update(failures=failures, breaking=breaking)
        audit.record(session, actor, "alias.refused", subject, model=model.name, details=details)
        raise _refusal(model.name, alias_name, version.number, previous, failures, breaking)
    if alias is None:
        alias = Alias(model_id=model.id, name=alias_name, version_id=version.id)
        session.add(alias)
    alias.version = version
    alias.updated_at = utcnow()
    alias.updated_by = actor
    session.flush()
    if failures or breaking:
        details.update(forced=True, failures=failures, breaking=breaking)
    action = "alias.set" if previous is None else "alias.moved"
    audit.record(session, actor, action, subject, model=model.name, details=details)
    return alias


def _refusal(
    model: str,
    alias: str,
    number: int,
    previous: int | None,
    failures: list[dict],
    breaking: list[dict],
) -> AliasGated:
    anyway = f'send "force": true to move {alias!r} anyway'
    if failures:
        summaries = "; ".join(f["summary"] for f in failures)
        detail = f"version {number} of {model!r} has failed variants ({summaries}); {anyway}"
        return AliasGated(detail, failures, breaking)
    reasons = "; ".join(change["reason"] for change in breaking)
    detail = (
        f"version {number} of {model!r} breaks clients of version {previous}, which {alias!r} "
        f"names now: {reasons}; {anyway}"
    )
    return AliasIncompatible(detail, failures, breaking)


def rollback_alias(
    session: Session, model_name: str, alias_name: str, actor: str, *, force: bool = False
) -> Alias:
    """Point an alias back at the version it named before its current one, through the same
    gates as any move."""
    model = locked_model(session, model_name)
    alias = session.get(Alias, (model.id, alias_name)) if could_be_name(alias_name) else None
    if alias is None:
        raise VersionNotFound(f"model {model.name!r} has no alias {alias_name!r}")
    earlier = alias_history.version_before(session, model.name, alias_name)
    if earlier is None:
        raise NoEarlierVersion(
            f"{alias_name!r} of {model.name!r} has named version {alias.version.number} since "
            "it was set: there is no earlier version to roll back to"
        )
    return set_alias(session, model_name, alias_name, earlier, actor, force=force, rollback=True)


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
