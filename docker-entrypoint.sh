#!/bin/sh
# The container's roles. `web` upgrades the schema before serving.
set -e
case "${1:-web}" in
  web)
    flask --app server db upgrade
    exec gunicorn --bind "0.0.0.0:${PORT:-8000}" --workers "${WEB_CONCURRENCY:-4}" \
      --access-logfile - server.wsgi:app ;;
  worker)
    exec flask --app server worker ;;
  *)
    exec "$@" ;;
esac
