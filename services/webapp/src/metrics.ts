import * as tf from '@tensorflow/tfjs-core';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

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
