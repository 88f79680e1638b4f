"""Load benchmark: 50 sales reps opening emails and saving, against `make run`'s stack.

Starts the real launcher (`python -m server.launcher`: embedded Redis, SQLite unless
--database-url, the sandbox, gunicorn with 2 workers x 4 threads, an RQ worker) in a temporary
instance directory, signs the demo users in (session tokens, spread over the reps), then runs
the locust scenario bench/locust/reps.py headless for --duration seconds and prints:

- requests per second over the run (all endpoints), and the error count;
- p50/p95/p99 of suggestions and of save, and of the authenticated no-op GET /api/ping measured
  under the same load as the baseline (with the ratios to it);
- the machine's load average and core count (the load generator shares the machine).

Targets: >= 200 requests/s, p99 <= 100 ms for suggestions and save, 0 errors.

    .venv/bin/python bench/load.py [--duration 60] [--users 50] [--rep-rate 4]

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.redis_server import free_port  # noqa: E402

RPS_TARGET = 200.0
P99_TARGET_MS = 100.0
CONTACTS_PER_REP = 100


def start_stack(instance: Path, port: int, database_url: str | None, log) -> subprocess.Popen:
    sandbox_port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "CA_BUNDLE"}
    }
    env.update(
        INSTANCE_PATH=str(instance),
        PORT=str(port),
        SANDBOX_PORT=str(sandbox_port),
        MS_AUTHORITY_HOST=f"https://127.0.0.1:{sandbox_port}",
        GRAPH_BASE_URL=f"https://127.0.0.1:{sandbox_port}/graph/v1.0",
        SALESFORCE_LOGIN_URL=f"https://127.0.0.1:{sandbox_port}/salesforce",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "server.launcher"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_ready(port: int, stack: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise SystemExit("the stack exited while starting; see its log")
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit("the stack never became ready")


def write_reps(instance: Path, database_url: str | None, users: int) -> Path:
    """Session tokens for the demo users and the CRM contacts each rep writes to."""
    from sqlalchemy import select

    from server import create_app
    from server.auth.sessions import issue_session
    from server.crm.builtin.models import CrmContact, CrmContactEmail
    from server.db import get_session
    from server.models.tenancy import User

    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": database_url or "",
            "REDIS_URL": f"unix://{instance / 'redis' / 'redis.sock'}",
        }
    )
    with app.app_context():
        db = get_session()
        rows = db.execute(
            select(CrmContact.id, CrmContact.name, CrmContactEmail.email, CrmContact.org_id)
            .join(CrmContactEmail, CrmContactEmail.contact_id == CrmContact.id)
            .order_by(CrmContact.id)
        ).all()
        # The demo organisation's users: the ones whose organisation has CRM contacts.
        orgs = {r.org_id for r in rows}
        people = [u for u in db.scalars(select(User).order_by(User.id)) if u.org_id in orgs]
        reps = []
        for index in range(users):
            user = people[index % len(people)]
            contacts = [
                {"id": str(r.id), "name": r.name, "email": r.email}
                for r in rows
                if r.org_id == user.org_id
            ]
            start = (index * CONTACTS_PER_REP) % max(1, len(contacts) - CONTACTS_PER_REP)
            reps.append(
                {
                    "index": index,
                    "email": user.email,
                    "name": user.display_name,
                    "token": issue_session(user),
                    "contacts": contacts[start : start + CONTACTS_PER_REP],
                }
            )
    app.extensions["db_engine"].dispose()
    path = instance / "reps.json"
    path.write_text(json.dumps(reps))
    return path


def run_locust(args, port: int, reps_path: Path, prefix: Path) -> float:
    """Runs the scenario; returns locust's own CPU seconds (it shares the machine's cores)."""
    env = {**os.environ, "COURIER_LOAD_REPS": str(reps_path)}
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "bench" / "locust" / "reps.py"),
        "--headless",
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.users),
        "--run-time",
        f"{args.duration}s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--json-file",
        str(prefix),
        "--csv",  # for <prefix>_failures.csv: what the errors were (printed when there are any)
        str(prefix),
        "--skip-log",
        "--loglevel",
        "WARNING",
        "--rep-rate",
        str(args.rep_rate),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, env=env, cwd=ROOT, check=False, timeout=args.duration + 120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def percentile(histogram: dict[str, int], fraction: float) -> float:
    """From locust's histogram of response times (ms, rounded as locust rounds them)."""
    points = sorted((float(ms), n) for ms, n in histogram.items())
    wanted = fraction * sum(n for _ms, n in points)
    seen = 0
    for ms, n in points:
        seen += n
        if seen >= wanted:
            return ms
    return float("nan")


def read_stats(prefix: Path) -> dict[str, dict[str, float]]:
    entries = json.loads(Path(f"{prefix}.json").read_text())
    start = min(e["start_time"] for e in entries)
    end = max(e["last_request_timestamp"] for e in entries)
    stats = {}
    for e in entries:
        stats[e["name"]] = {
            "count": e["num_requests"],
            "failures": e["num_failures"],
            "p50": percentile(e["response_times"], 0.50),
            "p95": percentile(e["response_times"], 0.95),
            "p99": percentile(e["response_times"], 0.99),
        }
    count = sum(e["num_requests"] for e in entries)
    stats["Aggregated"] = {
        "count": count,
        "failures": sum(e["num_failures"] for e in entries),
        "rps": count / max(end - start, 1e-9),
    }
    return stats


ROLES = (("gunicorn", "web"), ("server.sandbox", "sandbox"), ("worker", "worker"))


def _role(proc: psutil.Process) -> str:
    command = " ".join(proc.cmdline())
    if "redis" in proc.name():
        return "redis"
    return next((role for marker, role in ROLES if marker in command), "launcher")


def stack_cpu_seconds(stack: subprocess.Popen) -> dict[tuple[str, int], float]:
    """User + system CPU time of the stack's processes so far, by role and process (what the
    server got of the shared machine, as opposed to what it waited for). Exited processes (RQ's
    work horses) are counted in their parent's children times."""
    totals: dict[tuple[str, int], float] = {}
    root = psutil.Process(stack.pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            role = _role(proc)
        except psutil.NoSuchProcess:
            continue
        totals[(role, proc.pid)] = (
            times.user + times.system + times.children_user + times.children_system
        )
    return totals


def cpu_used(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
) -> dict[tuple[str, int], float]:
    return {key: after[key] - before.get(key, 0.0) for key in after}


def by_role(cpu: dict[tuple[str, int], float]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for (role, _pid), used in cpu.items():
        totals[role] = totals.get(role, 0.0) + used
    return totals


def report(
    stats: dict,
    load_before: tuple,
    load_after: tuple,
    cpu_by_process: dict[tuple[str, int], float],
    args,
    locust_cpu: float = 0.0,
) -> bool:
    cpu_by_role = by_role(cpu_by_process)
    cpu = sum(cpu_by_role.values())
    total = stats["Aggregated"]
    noop = stats.get("noop", {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")})
    print(
        f"load: {args.users} reps for {args.duration} s, {args.rep_rate:g} tasks/s each "
        f"(tasks 3:1:1 open an email, open and save it, no-op baseline)"
    )
    print(
        f"  requests/s: {total['rps']:.1f} (target >= {RPS_TARGET:.0f}); "
        f"requests: {total['count']:.0f}; errors: {total['failures']:.0f} (target 0)"
    )
    ok = total["rps"] >= RPS_TARGET and total["failures"] == 0
    for name in ("suggestions", "save", "noop"):
        figures = stats.get(name)
        if figures is None:
            print(f"  {name}: no requests")
            ok = False
            continue
        line = (
            f"  {name:<11} n={figures['count']:.0f} p50 {figures['p50']:.0f} ms, "
            f"p95 {figures['p95']:.0f} ms, p99 {figures['p99']:.0f} ms"
        )
        if name != "noop":
            ratio = figures["p99"] / noop["p99"] if noop["p99"] else float("nan")
            line += f" (target p99 <= {P99_TARGET_MS:.0f}; p99 ratio to no-op {ratio:.1f})"
            ok = ok and figures["p99"] <= P99_TARGET_MS
        print(line)
    print(
        f"  machine: {os.cpu_count()} cores; load average before "
        f"{' '.join(f'{x:.2f}' for x in load_before)}, after "
        f"{' '.join(f'{x:.2f}' for x in load_after)} (locust itself runs on this machine)"
    )
    print(
        f"  stack CPU: {cpu:.1f} s over {args.duration} s (= {cpu / args.duration:.2f} cores on "
        f"average); {total['count'] / max(cpu, 1e-9):.0f} requests per stack CPU-second"
    )
    web = cpu_by_role.get("web", 0.0)
    print(
        "  stack CPU by role: "
        + ", ".join(f"{role} {used:.1f} s" for role, used in sorted(cpu_by_role.items()))
        + f"; web: {1000 * web / max(total['count'], 1):.1f} ms CPU per request"
    )
    # gunicorn's processes each take connections as they come: a process that got more of the
    # reps' keep-alive connections is busier, and one process can use at most one core.
    per_web_process = sorted(
        (used for (role, _pid), used in cpu_by_process.items() if role == "web" and used > 0.5),
        reverse=True,
    )
    print(
        "  web processes: "
        + ", ".join(f"{used:.1f} s ({used / args.duration:.2f} cores)" for used in per_web_process)
    )
    print(
        f"  load generator (locust) CPU: {locust_cpu:.1f} s (= {locust_cpu / args.duration:.2f} "
        "cores; start-up included; it runs on the same machine)"
    )
    print("  result:", "targets met" if ok else "TARGET MISSED")
    return ok


def print_errors(prefix: Path, log_path: Path) -> None:
    """What failed, before the temporary directory goes: locust's failure kinds and the
    stack log's error lines."""
    failures = Path(f"{prefix}_failures.csv")
    rows = failures.read_text().splitlines()[1:] if failures.exists() else []
    if not rows:
        return
    print("  errors (locust: method, name, error, occurrences):")
    for row in rows[:10]:
        print("    " + row[:300])
    lines = [
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if "ERROR" in line or "Error" in line or "Traceback" in line
    ]
    for line in lines[:20]:
        print("    stack: " + line[:300])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (default 60)")
    parser.add_argument("--users", type=int, default=50, help="simulated reps (default 50)")
    parser.add_argument("--rep-rate", type=float, default=4.0, help="tasks/s per rep")
    parser.add_argument("--database-url", default=None, help="default: make run's SQLite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="courier-load-") as tmp:
        instance = Path(tmp) / "instance"
        port = free_port()
        log_path = Path(tmp) / "stack.log"
        with open(log_path, "w") as log:
            stack = start_stack(instance, port, args.database_url, log)
            try:
                wait_ready(port, stack)
                reps_path = write_reps(instance, args.database_url, args.users)
                load_before, cpu_before = os.getloadavg(), stack_cpu_seconds(stack)
                locust_cpu = run_locust(args, port, reps_path, Path(tmp) / "load")
                load_after = os.getloadavg()
                cpu = cpu_used(cpu_before, stack_cpu_seconds(stack))
            finally:
                stack.send_signal(signal.SIGINT)
                stack.wait(timeout=60)
        stats = read_stats(Path(tmp) / "load")
        ok = report(stats, load_before, load_after, cpu, args, locust_cpu)
        print_errors(Path(tmp) / "load", log_path)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
