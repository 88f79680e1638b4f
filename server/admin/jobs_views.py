"""Jobs page: the queues, running and failed jobs; retry or delete a failed one (audited).

The queues are shared by every organisation of this server (jobs carry ids only), so the
page is for the server's operators as much as for one organisation's admins."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from ..errors import ApiError
from ..queues import QUEUE_NAMES
from . import bp
from .audit import record_audit
from .jobs import (
    delete_all_failed,
    delete_failed,
    queue_summary,
    retry_all_failed,
    retry_failed,
    workers,
)


@bp.get("/jobs")
def jobs():
    return render_template(
        "admin/jobs.html", title="Jobs", queues=queue_summary(), workers=workers()
    )


@bp.post("/jobs/failed/all")
def jobs_failed_all():
    queue, action = request.form.get("queue", ""), request.form.get("action", "")
    if queue not in QUEUE_NAMES or action not in ("retry", "delete"):
        raise ApiError(400, "invalid_request", "Choose a queue and retry or delete.")
    count = (retry_all_failed if action == "retry" else delete_all_failed)(queue)
    record_audit(
        g.org.id, f"job.{action}_all", target_type="queue", target_id=queue, after={"jobs": count}
    )
    flash(
        f"{count} failed job(s) of “{queue}” {'queued again' if action == 'retry' else 'deleted'}."
    )
    return redirect(url_for("admin.jobs"))


@bp.post("/jobs/failed")
def jobs_failed_action():
    queue, job_id, action = (request.form.get(k, "") for k in ("queue", "job_id", "action"))
    if queue not in QUEUE_NAMES or action not in ("retry", "delete") or not job_id:
        raise ApiError(400, "invalid_request", "Choose a failed job and retry or delete.")
    done = (retry_failed if action == "retry" else delete_failed)(queue, job_id)
    if done:
        record_audit(g.org.id, f"job.{action}", target_type="job", target_id=job_id, target=queue)
        flash(f"Job {job_id} {'queued again' if action == 'retry' else 'deleted'}.")
    else:
        flash("That job is no longer among the failed ones.", "error")
    return redirect(url_for("admin.jobs"))
