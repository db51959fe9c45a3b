# The Gati image: the package plus the repository (examples/ is importable from /app).
# Used by docker-compose.yml for the migrate, gateway, worker and recorder services.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 gati
WORKDIR /app
COPY --chown=gati:gati . .
RUN pip install . && gati --help >/dev/null

USER gati
ENTRYPOINT ["gati"]
CMD ["--help"]
