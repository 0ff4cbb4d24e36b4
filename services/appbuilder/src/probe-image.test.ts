import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_IMAGE_LIMITS, initTf, inspectImage, loadModelBundle, preprocessImage, PREPROCESSING_VERSION, readBundleDir } from '@mlpl/shared';
import { REPO_ROOT } from './docker-fixtures.js';
import { PROBE_DIGIT, readProbeImage } from './probe-image.js';

describe('the health gate probe image', () => {
  test('when read, then it is a 280×280 PNG, as the page sends a drawing', async () => {
    const info = await inspectImage(await readProbeImage(), DEFAULT_IMAGE_LIMITS);
    assert.deepEqual([info.format, info.width, info.height], ['png', 280, 280]);
  });

  test('when the pretrained model classifies it, then it answers the probe digit', async () => {
    await initTf('wasm');
    const { model } = await loadModelBundle(await readBundleDir(path.join(REPO_ROOT, 'pretrained')), PREPROCESSING_VERSION);
    const input = await preprocessImage(await readProbeImage());
    const probabilities = tf.tidy(() => Array.from((model.predict(tf.tensor4d(input, [1, 28, 28, 1])) as tf.Tensor).dataSync()));
    model.dispose();
    assert.equal(probabilities.indexOf(Math.max(...probabilities)), PROBE_DIGIT);
  });
});
