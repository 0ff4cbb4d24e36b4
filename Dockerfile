# The images of the three services, one target each, and compose's `secrets` one-shot.
# Build from the repository root:
#   docker build --target webapp     -t mywebapp:base .
#   docker build --target training   -t mlpl-training .
#   docker build --target appbuilder -t mlpl-appbuilder .
# They share the npm set-up and one compiled build; each installs only its own production
# packages and ships no test code.
# NODE_IMAGE: any image with Node 24 and npm (where Docker Hub cannot be reached, a local one:
#   scripts/make-base-image.sh makes mlpl/node:24).
# EXTRA_CA_PEM: a CA certificate (PEM text) for npm behind a TLS-intercepting proxy; public, not secret.
#   npm trusts it on top of the base image's own CA bundle (/etc/ssl/certs/ca-certificates.crt,
#   if the image has one). Pass the few extra certificates, not a whole bundle: Linux refuses
#   any single argument or environment string over 128 KiB ("Argument list too long").
# TFJS_NODE=true installs @tensorflow/tfjs-node, the fast backend, where its install can fetch
#   libtensorflow (it brings the whole @tensorflow/tfjs bundle with it); scripts/install-service-deps.sh.
# HTTP_PROXY, HTTPS_PROXY, NO_PROXY: for npm, from .env.
#
# Stages are in the order the targets need them: the legacy builder (DOCKER_BUILDKIT=0, used
# by Debian's docker-compose v1) builds every stage before its target, so `--target webapp`
# stops before the training and appbuilder packages are installed.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# Where npm runs: the proxy and CA settings, and the package manifests of the workspaces.
FROM ${NODE_IMAGE} AS npm
WORKDIR /app
ARG EXTRA_CA_PEM=""
ARG TFJS_NODE=false
ARG HTTP_PROXY HTTPS_PROXY NO_PROXY
ENV NODE_EXTRA_CA_CERTS=/tmp/extra-ca.pem npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
    TFJS_NODE=${TFJS_NODE}
RUN { cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true; printf '%s\n' "$EXTRA_CA_PEM"; } > /tmp/extra-ca.pem
COPY package.json package-lock.json ./
COPY packages/shared/package.json packages/shared/
COPY services/webapp/package.json services/webapp/
COPY services/training/package.json services/training/
COPY services/appbuilder/package.json services/appbuilder/
COPY scripts/install-service-deps.sh /usr/local/bin/install-service-deps

# One compile for all three services (the appbuilder's tests import the webapp, so tsc needs
# both). Then everything that exists only for tests is deleted here, so no image can copy it.
FROM npm AS build
RUN npm ci
COPY tsconfig.base.json ./
COPY packages/shared/tsconfig.json packages/shared/
COPY packages/shared/src packages/shared/src
COPY services/webapp/tsconfig.json services/webapp/
COPY services/webapp/src services/webapp/src
COPY services/training/tsconfig.json services/training/
COPY services/training/src services/training/src
COPY services/appbuilder/tsconfig.json services/appbuilder/
COPY services/appbuilder/src services/appbuilder/src
RUN npx tsc -b services/webapp services/training services/appbuilder \
 && rm -rf packages/shared/dist/testing \
 && find packages/shared/dist services/*/dist \( -name '*.test.*' -o -name 'test-support.*' -o -name 'docker-fixtures.*' \
      -o -name 'appbuilder-stub.*' -o -name '*.tsbuildinfo' \) -exec rm -f {} +

FROM npm AS webapp-deps
RUN install-service-deps webapp

FROM ${NODE_IMAGE} AS webapp
WORKDIR /app
ENV NODE_ENV=production PORT=5050 MODEL_DIR=/app/model
COPY --from=webapp-deps /app/node_modules node_modules
COPY --from=webapp-deps /app/package.json ./
COPY --from=build /app/packages/shared/package.json packages/shared/
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/services/webapp/package.json services/webapp/
COPY --from=build /app/services/webapp/dist services/webapp/dist
COPY services/webapp/public services/webapp/public
# The model is the last layer: the appbuilder's images replace only /app/model. The label names
# its version (pretrained/metadata.json's), so the appbuilder can roll back to it.
COPY pretrained/model.json pretrained/weights.bin pretrained/metadata.json /app/model/
LABEL mlpl.model-version="pretrained-1" mlpl.role="webapp"
USER node
EXPOSE 5050
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||5050)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
WORKDIR /app/services/webapp
CMD ["node", "dist/main.js"]

FROM npm AS training-deps
RUN install-service-deps training

FROM ${NODE_IMAGE} AS training
WORKDIR /app
# DATA_DIR holds MNIST downloads and the image cache: a volume, so a restart keeps both.
ENV NODE_ENV=production TRAINING_PORT=5001 PRETRAINED_DIR=/app/pretrained DATA_DIR=/data
COPY --from=training-deps /app/node_modules node_modules
COPY --from=training-deps /app/package.json ./
COPY --from=build /app/packages/shared/package.json packages/shared/
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/services/training/package.json services/training/
COPY --from=build /app/services/training/dist services/training/dist
COPY pretrained/model.json pretrained/weights.bin pretrained/metadata.json /app/pretrained/
RUN mkdir -p /data && chown node /data
USER node
VOLUME /data
EXPOSE 5001
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.TRAINING_PORT||5001)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
WORKDIR /app/services/training
CMD ["node", "dist/main.js"]

FROM npm AS appbuilder-deps
RUN install-service-deps appbuilder

FROM ${NODE_IMAGE} AS appbuilder
WORKDIR /app
ENV NODE_ENV=production APPBUILDER_PORT=5000
COPY --from=appbuilder-deps /app/node_modules node_modules
COPY --from=appbuilder-deps /app/package.json ./
COPY --from=build /app/packages/shared/package.json packages/shared/
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/services/appbuilder/package.json services/appbuilder/
COPY --from=build /app/services/appbuilder/dist services/appbuilder/dist
# The health gate's probe digit, read at start-up (src/probe-image.ts).
COPY services/appbuilder/assets services/appbuilder/assets
# No socket here: the appbuilder reaches the Docker engine through compose's docker-proxy over TCP
# (deploy/docker-proxy/haproxy.cfg), so it runs as `node` from the start.
USER node
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.APPBUILDER_PORT||5000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
WORKDIR /app/services/appbuilder
CMD ["node", "dist/main.js"]

# Compose's one-shot `secrets` service: plain Node and one script, no packages. Last in the file,
# so the legacy builder never builds it for the service targets above.
FROM ${NODE_IMAGE} AS secrets
COPY scripts/compose/make-secrets.mjs /usr/local/lib/mlpl/make-secrets.mjs
# Root: it makes root-only folders (0700) in the secrets volumes.
ENTRYPOINT ["node", "/usr/local/lib/mlpl/make-secrets.mjs"]
