"""The production compose stack, checked as far as a machine without a Docker engine allows:

- `docker-compose config` (Debian's docker-compose 1.29, which implements the Compose
  Specification: interpolation with `${VAR:?}`, `depends_on` conditions, health checks) resolves
  the file as Docker would, with a .env like the one an operator writes;
- `caddy validate` checks the Caddyfile (Debian's caddy package);
- the image's entrypoint roles (migrate, web, worker and both health checks) run outside a
  container.

Containers themselves are not started here: there is no Docker engine on this machine or CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from server.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker-entrypoint.sh"
APP_SERVICES = ("migrate", "web", "worker")
OPERATOR_ENV = {
    # What an operator who copied .env.example (ENV=development!) and filled the secrets has.
    "ENV": "development",
    "SANDBOX_ENABLED": "true",
    "COURIER_DOMAIN": "courier.example.com",
    "POSTGRES_PASSWORD": "pg-Secret-0123456789abcdef",
    "REDIS_PASSWORD": "redis-Secret-0123456789abcdef",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: .ci/run installs it (apt-get install {name})")
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


def _compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    for name in ("docker-compose.yml", "Caddyfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    clean = {k: v for k, v in os.environ.items() if k not in OPERATOR_ENV}
    return subprocess.run(
        [_tool("docker-compose"), "--project-directory", str(tmp_path), "config"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def resolved(tmp_path) -> dict:
    result = _compose_config(tmp_path, OPERATOR_ENV)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_env_file_cannot_switch_production_off(resolved):
    for name in APP_SERVICES:
        env = resolved[name]["environment"]
        assert env["ENV"] == "production", name
        assert env["SANDBOX_ENABLED"] == "false", name
        assert env["BASE_URL"] == "https://courier.example.com"
        assert env["TRUSTED_PROXY_HOPS"] == "1"


def test_passwords_come_from_env_and_reach_the_urls(resolved):
    web = resolved["web"]["environment"]
    assert web["DATABASE_URL"] == (
        f"postgresql+psycopg://courier:{OPERATOR_ENV['POSTGRES_PASSWORD']}@postgres:5432/courier"
    )
    assert web["REDIS_URL"] == f"redis://:{OPERATOR_ENV['REDIS_PASSWORD']}@redis:6379/0"
    assert (
        resolved["postgres"]["environment"]["POSTGRES_PASSWORD"]
        == (OPERATOR_ENV["POSTGRES_PASSWORD"])
    )
    assert OPERATOR_ENV["REDIS_PASSWORD"] in resolved["redis"]["command"]


@pytest.mark.parametrize("missing", ["POSTGRES_PASSWORD", "REDIS_PASSWORD", "COURIER_DOMAIN"])
def test_a_missing_secret_stops_the_stack_with_its_name(tmp_path, missing):
    env = {k: v for k, v in OPERATOR_ENV.items() if k != missing}
    result = _compose_config(tmp_path, env)
    assert result.returncode != 0
    assert f"set {missing} in .env" in result.stderr


def test_no_password_is_written_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "courier:courier@" not in text
    assert "POSTGRES_PASSWORD: courier" not in text


def test_start_order_waits_on_health_and_migrations(resolved):
    assert resolved["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker"):
        assert resolved[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }
    assert resolved["caddy"]["depends_on"] == {"web": {"condition": "service_healthy"}}
    for name in ("postgres", "redis", "web", "worker"):
        assert resolved[name]["healthcheck"]["test"], name
    assert resolved["web"]["healthcheck"]["test"] == ["CMD", "courier", "healthcheck"]
    assert resolved["worker"]["healthcheck"]["test"] == ["CMD", "courier", "worker-healthcheck"]


def test_every_long_running_service_restarts(resolved):
    for name in ("web", "worker", "caddy", "redis", "postgres"):
        assert resolved[name]["restart"] == "unless-stopped", name
    assert resolved["migrate"]["restart"] == "on-failure"


def test_only_caddy_is_published_and_it_serves_tls(resolved):
    published = {name for name, svc in resolved.items() if svc.get("ports")}
    assert published == {"caddy"}
    assert {p["target"] for p in resolved["caddy"]["ports"]} == {80, 443}
    assert resolved["web"]["expose"] == ["8000"]


@pytest.mark.parametrize("domain", ["courier.example.com", "localhost"])
def test_the_caddyfile_is_valid_for_a_public_domain_and_for_localhost(tmp_path, domain):
    env = {
        **os.environ,
        "COURIER_DOMAIN": domain,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    caddy = _tool("caddy")
    adapted = subprocess.run(
        [caddy, "adapt", "--config", str(ROOT / "Caddyfile"), "--adapter", "caddyfile"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert adapted.returncode == 0, adapted.stderr
    assert f'"host":["{domain}"]' in adapted.stdout
    assert '"dial":"web:8000"' in adapted.stdout
    valid = subprocess.run(
        [caddy, "validate", "--config", str(ROOT / "Caddyfile"), "--adapter", "caddyfile"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert valid.returncode == 0, valid.stderr


# --- The image's commands, run outside a container ------------------------------------------


def _role_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "ENV", "CA_BUNDLE"}
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        ENV="test",
        INSTANCE_PATH=str(tmp_path / "instance"),
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def test_migrate_retries_until_the_database_can_be_reached(tmp_path):
    # The database's directory is blocked by a file: every attempt fails until it is removed,
    # as if PostgreSQL were still starting.
    blocker = tmp_path / "db"
    blocker.write_text("not a directory")
    env = _role_env(
        tmp_path,
        DATABASE_URL=f"sqlite:///{blocker / 'courier.db'}",
        MIGRATE_MAX_DELAY_SECONDS="1",
        MIGRATE_ATTEMPTS="30",
    )
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "migrate"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = []
        for line in proc.stdout:
            output.append(line)
            if "retrying in" in line:
                break
        assert any("attempt 1 of 30" in line for line in output), "".join(output)
        blocker.unlink()
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(output) + rest
    assert "schema is up to date" in rest
    assert (blocker / "courier.db").is_file()


def test_migrate_gives_up_after_its_attempts(tmp_path):
    closed_port = free_port()
    env = _role_env(
        tmp_path,
        DATABASE_URL=f"postgresql+psycopg://courier:x@127.0.0.1:{closed_port}/courier",
        MIGRATE_MAX_DELAY_SECONDS="0",
        MIGRATE_ATTEMPTS="2",
    )
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "attempt 1 of 2" in result.stderr
    assert "migration failed 2 times; giving up" in result.stderr


def _healthcheck(env) -> int:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), "healthcheck"], env=env, capture_output=True, timeout=30
    ).returncode


def test_web_role_serves_and_the_healthcheck_follows_it(tmp_path, sqlite_url, redis_url):
    port = free_port()
    env = _role_env(
        tmp_path,
        DATABASE_URL=sqlite_url,
        REDIS_URL=redis_url,
        PORT=str(port),
        WEB_CONCURRENCY="1",
        WEB_THREADS="1",
    )
    assert _healthcheck(env) == 1  # nothing listening yet
    web = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "web"], cwd=ROOT, env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while _healthcheck(env) != 0:
            assert web.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "the web role never became healthy"
            time.sleep(0.3)
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
    assert _healthcheck(env) == 1


def _worker_healthcheck(env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), "worker-healthcheck"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_healthcheck_follows_this_hosts_worker(tmp_path, sqlite_url, redis_url):
    """Healthy once the worker role registered with a heartbeat; unhealthy again when it is
    SIGKILLed, although its registration is still in Redis (no goodbye was said)."""
    env = _role_env(tmp_path, DATABASE_URL=sqlite_url, REDIS_URL=redis_url)
    before = _worker_healthcheck(env)
    assert before.returncode == 1 and "no live worker" in before.stderr
    worker = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "worker"], cwd=ROOT, env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while (check := _worker_healthcheck(env)).returncode != 0:
            assert worker.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, f"never healthy: {check.stderr}"
            time.sleep(0.3)
        assert "worker alive" in check.stdout
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    from redis import Redis
    from rq import Worker

    assert Worker.all(connection=Redis.from_url(redis_url)), "the registration stays behind"
    after = _worker_healthcheck(env)
    assert after.returncode == 1 and "no live worker" in after.stderr


def test_the_dockerfile_runs_the_entrypoint_roles():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ENV=production" in dockerfile.replace(" ", "")
    assert 'ENTRYPOINT ["courier"]' in dockerfile
    assert "COPY docker-entrypoint.sh /usr/local/bin/courier" in dockerfile
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            source = line.split()[1]
            assert (ROOT / source).exists(), f"COPY source {source} is missing"
    entrypoint = ENTRYPOINT.read_text()
    for role in ("migrate)", "web)", "worker)", "healthcheck)", "worker-healthcheck)"):
        assert role in entrypoint
