#!/bin/sh
# The container's roles (docker-compose.yml). Each runs outside a container too, from the
# repository with the virtualenv on PATH: tests/integration/test_compose.py does so.
#   migrate      upgrade the schema, waiting and retrying while the database is not reachable
#   web          gunicorn, configured by server/gunicorn_conf.py
#   worker       an RQ worker with the scheduler
#   healthcheck  exit 0 when this container's web server answers /healthz
#   worker-healthcheck  exit 0 when this container's RQ worker is alive with a fresh heartbeat
set -e
case "${1:-web}" in
  migrate)
    attempts="${MIGRATE_ATTEMPTS:-30}"
    max_delay="${MIGRATE_MAX_DELAY_SECONDS:-10}"
    tries=0
    until flask --app server db upgrade; do
      tries=$((tries + 1))
      if [ "$tries" -ge "$attempts" ]; then
        echo "courier: migration failed $tries times; giving up" >&2
        exit 1
      fi
      delay=$((tries * 2))
      [ "$delay" -gt "$max_delay" ] && delay="$max_delay"
      echo "courier: database not reachable or migration failed (attempt $tries of $attempts); retrying in ${delay}s" >&2
      sleep "$delay"
    done
    echo "courier: schema is up to date" >&2 ;;
  web)
    # Workers (WEB_CONCURRENCY), threads (WEB_THREADS), port: server/gunicorn_conf.py.
    exec gunicorn --config python:server.gunicorn_conf ;;
  worker)
    exec flask --app server worker ;;
  worker-healthcheck)
    exec flask --app server worker-health ;;
  healthcheck)
    exec python -c "import os, sys, urllib.request
url = 'http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000')
try:
    sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)
except Exception as exc:
    print('healthcheck failed:', exc, file=sys.stderr)
    sys.exit(1)" ;;
  *)
    exec "$@" ;;
esac
