# paper-digest: the long-running worker. docs/serve.md shows `docker run` and compose.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PAPER_DIGEST_CONFIG=/config \
    PAPER_DIGEST_DATABASE_URL=sqlite:////data/paper-digest.db

# Install from pyproject (dependencies and the `paper-digest` entry point), as root, then
# drop the sources: the image runs the installed package only.
COPY pyproject.toml README.md /src/
COPY worker /src/worker
COPY docker/install.sh /usr/local/bin/paper-digest-install
RUN sh /usr/local/bin/paper-digest-install /src && rm -rf /src

# A non-root user owns only /data (the SQLite file, Markdown and .eml output). Config and
# templates are mounted read-only at /config (worker.toml, subscribers/) and /templates
# (`templates_dir = "/templates"`); the image carries no config of its own.
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin \
        paper \
    && mkdir -p /data /config/subscribers /templates \
    && chown paper:paper /data

USER paper
WORKDIR /data
VOLUME ["/data"]
# Only listens when worker.toml sets [serve] http_port = 8080 (/healthz, /metrics).
EXPOSE 8080

# serve records a heartbeat every [serve] heartbeat (30s); health fails after 3 missed.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["paper-digest", "health"]

# SIGTERM (docker stop) ends serve cleanly within 10 s: Docker's default stop timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["paper-digest"]
CMD ["serve"]
