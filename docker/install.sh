#!/bin/sh
# Install paper-digest with its PostgreSQL driver from a source tree: the one install step of
# the image (Dockerfile). tests/integration/test_docker.py runs this same script into a fresh
# virtualenv, so the image's install is proven without a Docker engine.
#   usage: docker/install.sh [SOURCE_DIR]      (the python/pip on PATH receive the install)
set -eu
src="${1:-.}"
python -m pip install --no-cache-dir --disable-pip-version-check "${src}[postgres]"
# Fail the build, not the first start, if the entry point or a dependency is missing.
paper-digest --version
python -c "import psycopg, apscheduler, sqlalchemy, alembic, jinja2, httpx, bs4"
