"""Treatment against holdout: the enrollments that began in the range, their conversions and
the revenue attributed to their messages (sent, or held for the holdout)."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from service.analytics.attribution import attributed
from service.analytics.figures import Group, Lift
from service.analytics.sql import Scope, tune
from service.analytics.stats import newcombe, welch
from service.store.models import Enrollment

MIN_GROUP = 30  # fewer contacts in a group than this and a lift is noise, not a figure


def groups(session: Session, scope: Scope) -> tuple[Group, Group]:
    """The treatment and the holdout group, each summed in the database."""
    tune(session)
    credited = attributed(scope)
    earned = (
        select(credited.c.enrollment_id, func.sum(credited.c.revenue).label("revenue"))
        .group_by(credited.c.enrollment_id)
        .subquery("earned")
    )
    revenue = func.coalesce(earned.c.revenue, 0.0)
    converted = scope.during(col(Enrollment.goal_at))  # her first goal, in the range
    statement = (
        select(
            col(Enrollment.holdout),
            func.count(),
            func.sum(case((converted, 1), else_=0)),
            func.sum(revenue),
            func.sum(revenue * revenue),
        )
        .outerjoin(earned, earned.c.enrollment_id == col(Enrollment.id))
        .where(scope.of(Enrollment), scope.during(col(Enrollment.started_at)))
        .group_by(col(Enrollment.holdout))
    )
    found = {
        bool(held): Group(int(n), int(c), float(r), float(r2))
        for held, n, c, r, r2 in session.execute(statement).all()
    }
    return found.get(False, Group()), found.get(True, Group())


def lift(session: Session, scope: Scope) -> Lift:
    """Conversion-rate lift with Newcombe's interval and the z-test, and revenue per contact
    with Welch's interval; insufficient_data below MIN_GROUP contacts in either group."""
    treatment, holdout = groups(session, scope)
    if min(treatment.contacts, holdout.contacts) < MIN_GROUP:
        return Lift(treatment, holdout, insufficient_data=True)
    difference = newcombe(
        treatment.conversions, treatment.contacts, holdout.conversions, holdout.contacts
    )
    base = holdout.conversion_rate
    relative = (
        {
            "relative_lift": difference.estimate / base,
            "relative_low": difference.low / base,
            "relative_high": difference.high / base,
        }
        if base
        else {}
    )
    return Lift(
        treatment,
        holdout,
        insufficient_data=False,
        conversion_difference=difference,
        revenue_difference=welch(treatment, holdout),
        **relative,
    )
