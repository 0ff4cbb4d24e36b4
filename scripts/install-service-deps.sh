#!/bin/sh
# Installs one service's production packages into ./node_modules: the Dockerfile's
# <service>-deps stages run it, and each image copies the result.
#   install-service-deps.sh webapp|training|appbuilder
# TFJS_NODE=true adds @tensorflow/tfjs-node, the fast backend, where its install can fetch
# libtensorflow; when it cannot, the service falls back to the wasm backend at start-up.
set -eu
service="$1"
npm ci --omit=dev --workspace "@mlpl/$service" --workspace @mlpl/shared
if [ "${TFJS_NODE:-false}" = true ]; then
  npm install --no-save --omit=dev @tensorflow/tfjs-node@4.22.0 \
    || echo "tfjs-node did not install; $service will use the wasm backend"
fi
# Source maps serve debuggers, not a running service: tfjs alone ships 56 MB of them.
find node_modules -name '*.map' -type f -exec rm -f {} +
