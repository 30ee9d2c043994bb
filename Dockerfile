# One image for every specgoods process (web, worker, beat, migrate); docker-compose.yml picks the command.
#
#   docker build -t specgoods .                      # the app image (last stage, "app")
#   docker build --target flower -t specgoods-flower .   # the app image plus Flower, for monitoring
#
# No HEALTHCHECK here on purpose: the same image runs workers and beat, which serve no HTTP. The web
# service's healthcheck lives in docker-compose.yml.

FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The same runtime packages CI installs. WeasyPrint needs pango and fontconfig; fonts-noto-cjk draws
# the Chinese text; without libharfbuzz-subset0 a Chinese PDF takes 9–13 s instead of 0.2–0.3 s.
# curl is only for container healthchecks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        fonts-noto-cjk \
        fontconfig \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz-subset0 \
        curl \
 && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid so files in the instance volume keep one owner across image rebuilds.
# The instance folder is created here so a fresh named volume mounted on it inherits this ownership.
RUN groupadd --system --gid 10001 specgoods \
 && useradd --system --uid 10001 --gid specgoods --home-dir /var/lib/specgoods --shell /usr/sbin/nologin specgoods \
 && install -d -o specgoods -g specgoods -m 0750 /var/lib/specgoods

# Dependencies first: this layer is rebuilt only when requirements.lock changes, not on every source edit.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir -r /tmp/requirements.lock \
 && rm /tmp/requirements.lock

# Then the project itself, without re-resolving dependencies (the lock file is the single source of truth).
# The source tree is removed afterwards so every process imports the installed package, never a stray
# checkout in the working directory: a file missing from the package then fails everywhere, and early.
# `pip check` fails the build when requirements.lock no longer covers pyproject.toml's dependencies.
COPY . /tmp/src
RUN pip install --no-cache-dir --no-deps /tmp/src \
 && rm -rf /tmp/src \
 && pip check

ENV SPECGOODS_ENV=production \
    SPECGOODS_INSTANCE_PATH=/var/lib/specgoods

USER specgoods
WORKDIR /var/lib/specgoods
EXPOSE 8000

# gthread: a few processes with threads each, so slow clients and PDF downloads do not tie up a process.
# --worker-tmp-dir /dev/shm keeps gunicorn's heartbeat files off the container's overlay filesystem,
# where a slow disk can make the arbiter think workers hang. Extra flags: set GUNICORN_CMD_ARGS.
# web.gunicorn_conf: Prometheus multiprocess mode, so /metrics sums every worker process (docs/monitoring.md).
CMD ["gunicorn", "--worker-class", "gthread", "--workers", "2", "--threads", "4", \
     "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm", \
     "--access-logfile", "-", "--error-logfile", "-", \
     "--config", "python:web.gunicorn_conf", \
     "web.wsgi:app"]


# Flower is optional monitoring, so it stays out of requirements.lock and out of the app image.
FROM base AS flower
ARG FLOWER_VERSION=2.2.0
USER root
# Already-installed dependencies are kept (pip upgrades only if needed); pip check catches a clash with the lock.
RUN pip install --no-cache-dir "flower==${FLOWER_VERSION}" \
 && pip check
USER specgoods
EXPOSE 5555
CMD ["celery", "--app", "tasks.app:celery_app", "flower", "--port=5555"]


# The default build target: the app image unchanged (kept last so a plain `docker build` produces it).
FROM base AS app
