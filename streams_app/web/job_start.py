"""Starting a job from a posted form, as a recorded change: the pages and admin both start
jobs through `job_start_as` (simulate and export need the operators role, trim the
stream-admins role)."""

from __future__ import annotations

from django import forms

from streams_app.team.audit import Actor, audit_record, require
from streams_app.team.roles import START_JOB, TRIM
from streams_app.web.forms import job_form_submit

KIND_ACTIONS = {"simulate": START_JOB, "export": START_JOB, "trim": TRIM}
# What of a job's form goes into the audit trail (the parameters that say what it does).
AUDITED_FIELDS = (
    "city", "day", "stream", "start", "end", "format", "filter", "strategy", "threshold", "approximate", "confirm",
)  # fmt: skip


def job_start_as(actor: Actor, kind: str, data) -> tuple[str | None, dict[str, forms.Form]]:
    """Check the role for `kind`, start its job from the posted `data`, and record it:
    (job ID, {}) or (None, {kind: the form with its errors})."""
    kind = kind if kind in KIND_ACTIONS else "simulate"
    action = KIND_ACTIONS[kind]
    stream = data.get("stream") or data.get("city") or ""
    require(actor, action, stream=stream)
    detail = {"kind": kind, **{name: data.get(name) for name in AUDITED_FIELDS if data.get(name) not in (None, "")}}
    job_id, bound = job_form_submit(kind, data, user_id=getattr(actor.user, "pk", None))
    if job_id is None:
        errors = "; ".join(str(error) for errors in bound[kind].errors.values() for error in errors)
        audit_record(actor, action, succeeded=False, outcome=f"failed: {errors}", stream=stream, detail=detail)
    else:
        audit_record(actor, action, succeeded=True, outcome=f"job {job_id} started", stream=stream, detail=detail)
    return job_id, bound
