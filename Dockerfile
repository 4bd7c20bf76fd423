# syntax=docker/dockerfile:1
#
# skiffmq broker image.
#
#   docker build -t skiffmq .
#   docker run -p 7600:7600 -p 7600:7600/udp -p 9600:9600 -v skiff-data:/data \
#     -v "$PWD/users.json:/etc/skiff/users.json:ro" -e SKIFF_AUTH_FILE=/etc/skiff/users.json skiffmq
#
# Two stages: `build` installs every dependency and compiles the TypeScript;
# `runtime` holds dist/ and the production dependencies only, runs as the
# unprivileged user `skiff`, and has tini as PID 1 so SIGTERM from `docker stop`
# reaches the broker (which drains, saves group positions and exits 0) and
# nothing is left as a zombie.
#
# Installs use `npm install` against the lock file, not `npm ci`: npm leaves
# msgpackr's optional native helpers for other platforms out of the lock file
# and `npm ci` then refuses it as out of sync (the same reason as .ci/run);
# `npm install` still takes the locked versions.
#
# Configuration is by SKIFF_* environment variables so `docker run -e` can
# override any option; the image sets the four that differ from the broker's
# defaults inside a container: listen on every interface (explicitly), keep
# data on the /data volume, serve HTTP on 9600, and serve HTTP on every
# interface too (SKIFF_HTTP_HOST). The broker's HTTP port is loopback by
# default, and a container's loopback is reachable neither through a
# published port (-p 9600:9600) nor by a Prometheus in another container.
# /metrics, /healthz and /readyz need no login; with an auth file the panel
# and /api need an admin or monitor user's token.

ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc before the sources are copied in.
RUN npm install --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY protocol ./protocol
COPY broker ./broker
COPY clients ./clients
COPY cli ./cli
RUN npx tsc -p tsconfig.json

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 skiff \
 && useradd --system --uid 10001 --gid skiff --home-dir /data --no-create-home --shell /usr/sbin/nologin skiff \
 && mkdir -p /data \
 && chown skiff:skiff /data
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json /src/package-lock.json ./
# Production dependencies only; no install scripts (tsc is a dev dependency and
# the code is already compiled).
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY deploy/healthcheck.mjs ./healthcheck.mjs
ENV SKIFF_HOST=0.0.0.0 \
    SKIFF_DATA_DIR=/data \
    SKIFF_HTTP_PORT=9600 \
    SKIFF_HTTP_HOST=0.0.0.0
EXPOSE 7600/tcp 7600/udp 9600/tcp
VOLUME ["/data"]
USER skiff:skiff
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--initial-old-space-size=64", "/app/dist/cli/skiff.js"]
CMD ["broker"]
