# Production image: the API and the scheduler in one process, on PostgreSQL or SQLite.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NURTURE_DATABASE_URL=sqlite:////data/nurture.db \
    NURTURE_OUTBOX_PATH=/data/outbox.jsonl

WORKDIR /app
RUN useradd --create-home --uid 10001 nurture && mkdir /data && chown nurture /data

COPY pyproject.toml README.md ./
COPY service ./service
COPY webhooks ./webhooks
RUN pip install '.[postgres]'
COPY journeys ./journeys
COPY content ./content

USER nurture
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"

CMD ["nurture", "serve", "--host", "0.0.0.0", "--port", "8000"]
