# The application image: worker, admin app, migrations and the dev mail catcher
# (docker-compose.yml picks the command). Build: docker build -t complaints-orchestrator .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COMPLAINTS_DATA_DIR=/data \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    PATH=/opt/venv/bin:$PATH

# An unprivileged user owns nothing but the data directory.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app /data/mail /data/attachments \
    && chown -R app:app /data

WORKDIR /app

# uv, pinned by hash; then the dependencies exactly as uv.lock has them (hashes checked, no
# test extra) into /opt/venv, first on their own so that a code change reuses that layer.
COPY requirements-uv.txt /tmp/requirements-uv.txt
RUN pip install --require-hashes --no-deps -r /tmp/requirements-uv.txt && rm /tmp/requirements-uv.txt
COPY pyproject.toml uv.lock /app/
RUN uv sync --locked --no-install-project

# Then the project itself (not editable). Everything .dockerignore lets through is copied, so
# alembic.ini, the migrations, templates and worker.py are here too; the commands run from /app.
COPY . /app
RUN uv sync --locked --no-editable \
    && rm -rf /app/build /app/*.egg-info \
    && find /app -name '__pycache__' -prune -exec rm -rf {} +

USER app

# SIGTERM (docker stop, compose's stop_grace_period) lets the worker drain.
STOPSIGNAL SIGTERM
CMD ["python", "worker.py"]
