# One image; the command picks the role (docker-entrypoint.sh): `migrate`, `web` (gunicorn),
# `worker` (RQ worker + scheduler) or `healthcheck`. docker-compose.yml runs them behind Caddy.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ENV=production
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY server ./server
COPY addin ./addin
COPY migrations ./migrations
COPY manifest.xml ./manifest.xml
COPY docker-entrypoint.sh /usr/local/bin/courier
RUN useradd --create-home courier && mkdir -p /app/instance && chown courier /app/instance
USER courier
EXPOSE 8000
ENTRYPOINT ["courier"]
CMD ["web"]
