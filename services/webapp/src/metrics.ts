import * as tf from '@tensorflow/tfjs-core';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

/** The label of requests no route took (unknown paths, static files): one series, whatever the path. */
export const UNMATCHED_ROUTE = 'unmatched';

const segments = (path: string) => path.split('/').filter((segment) => segment !== '');

/**
 * The route template a request was served by (`/api/models/:version`), never the path asked:
 * a label per path would let any client add series to /metrics by making paths up.
 *
 * Read when the answer is finished. The template is the route's own path behind its router's
 * mount point, and the mount point is taken from the request path (as many leading segments as
 * the path has beyond the route's), not from `req.baseUrl`: express restores baseUrl when an
 * error leaves a router, which would file failed requests under another label. A route path
 * that may match any number of segments (`*`, `{…}`) is labelled by that path alone.
 */
export function routeLabel(req: { route?: { path?: unknown } | undefined; originalUrl: string }): string {
  const template = req.route?.path;
  if (typeof template !== 'string') return UNMATCHED_ROUTE;
  if (/[*{}()]/.test(template)) return template;
  const route = segments(template);
  const asked = segments(req.originalUrl.split('?')[0] ?? '');
  const mount = asked.slice(0, Math.max(0, asked.length - route.length));
  return `/${[...mount, ...route].join('/')}`;
}

/** One registry per app, so tests can build several apps in one process. */
export function createMetrics(modelVersion: () => string, backend: string) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mlpl_webapp_' });
  const requests = new Histogram({
    name: 'mlpl_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const predictions = new Counter({
    name: 'mlpl_predictions_total',
    help: 'Predictions served, by predicted digit and model version',
    labelNames: ['digit', 'model_version'] as const,
    registers: [registry],
  });
  const feedback = new Counter({
    name: 'mlpl_feedback_total',
    help: 'Corrections stored, by whether the model had been right',
    labelNames: ['agreed'] as const,
    registers: [registry],
  });
  const predictionLogFailures = new Counter({
    name: 'mlpl_prediction_log_failures_total',
    help: 'Predictions served but not recorded in the database',
    registers: [registry],
  });
  new Gauge({
    name: 'mlpl_tfjs_tensors',
    help: 'Tensors alive in the tfjs engine; growth means a leak',
    registers: [registry],
    collect() {
      this.set(tf.memory().numTensors);
    },
  });
  new Gauge({
    name: 'mlpl_model_info',
    help: 'The model in service (value is always 1)',
    labelNames: ['model_version', 'backend'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.set({ model_version: modelVersion(), backend }, 1);
    },
  });
  return { registry, requests, predictions, feedback, predictionLogFailures };
}
