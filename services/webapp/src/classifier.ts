import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadModelBundle, MNIST_IMAGE_SIZE, MNIST_PIXELS, readBundleDir } from '@mlpl/shared';
import type { ModelMetadata } from '@mlpl/shared';

export type Classification = { digit: number; probabilities: number[] };

export type Classifier = {
  readonly metadata: ModelMetadata;
  classify(input: Float32Array): Classification;
  dispose(): void;
};

/** Wraps a loaded model; every tensor made for a prediction is freed before it returns. */
export function createClassifier(model: tfl.LayersModel, metadata: ModelMetadata): Classifier {
  return {
    metadata,
    classify(input) {
      if (input.length !== MNIST_PIXELS) throw new Error(`expected ${MNIST_PIXELS} values, got ${input.length}`);
      const probabilities = Array.from(
        tf.tidy(() => (model.predict(tf.tensor4d(input, [1, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE, 1])) as tf.Tensor).dataSync()),
      );
      let digit = 0;
      for (let i = 1; i < probabilities.length; i++) if ((probabilities[i] ?? 0) > (probabilities[digit] ?? 0)) digit = i;
      return { digit, probabilities };
    },
    dispose() {
      model.dispose();
    },
  };
}

/** Loads and checks the bundle in `dir`; the model must be one this code can serve. */
export async function loadClassifier(dir: string, preprocessingVersion: number): Promise<Classifier> {
  const { model, metadata } = await loadModelBundle(await readBundleDir(dir), preprocessingVersion);
  return createClassifier(model, metadata);
}

/**
 * The model in service, replaceable while the server runs (the local stack's process deploy
 * target). `classify` is synchronous, so no prediction is ever halfway through the model that
 * `replace` frees: a request reads the model, predicts and returns before another can swap it.
 */
export class ModelSlot implements Classifier {
  #current: Classifier;

  constructor(initial: Classifier) {
    this.#current = initial;
  }

  get metadata(): ModelMetadata {
    return this.#current.metadata;
  }

  classify(input: Float32Array): Classification {
    return this.#current.classify(input);
  }

  /** Serves `next` from now on and frees the model it replaces; returns that model's version. */
  replace(next: Classifier): string {
    const previous = this.#current;
    this.#current = next;
    previous.dispose();
    return previous.metadata.version;
  }

  dispose(): void {
    this.#current.dispose();
  }
}
