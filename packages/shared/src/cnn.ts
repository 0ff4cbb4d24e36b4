import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** The model reads one 28×28 grey image, values in [0, 1], white ink on black. */
export const CNN_INPUT_NAME = 'image';
export const CNN_OUTPUT_NAME = 'probabilities';
export const CNN_INPUT_SHAPE = [28, 28, 1] as const;
export const CNN_NUM_CLASSES = 10;

export type CnnOptions = {
  /** Seeds the kernel initialisers (layer i uses seed + i). Dropout masks stay random. */
  seed?: number;
  /** Adam step size; 0.001 is Adam's usual default. */
  learningRate?: number;
  /** Fraction of the flattened features dropped while training. */
  dropoutRate?: number;
};

export const CNN_DEFAULTS = { seed: 42, learningRate: 0.001, dropoutRate: 0.25 } as const;

/**
 * conv 5×5/16 relu → maxpool 2 → conv 3×3/32 relu → maxpool 2 → flatten (5·5·32 = 800) →
 * dropout → dense 128 relu → dense 10 softmax; 108,874 weights (0.44 MB as float32).
 * Sized for the wasm backend, whose Conv2DBackpropInput is a plain loop whose cost grows with
 * in × out channels × kernel area of the second convolution: 5×5/32 → 5×5/64 trains at about
 * 100 images/s there, this at about 300–600, and still reaches ~98–99 % on MNIST.
 */
export function createModel(options: CnnOptions = {}): tfl.LayersModel {
  const seed = options.seed ?? CNN_DEFAULTS.seed;
  const learningRate = options.learningRate ?? CNN_DEFAULTS.learningRate;
  const dropoutRate = options.dropoutRate ?? CNN_DEFAULTS.dropoutRate;
  const kernel = (offset: number) => tfl.initializers.glorotUniform({ seed: seed + offset });

  const image = tfl.input({ shape: [...CNN_INPUT_SHAPE], name: CNN_INPUT_NAME });
  const conv1 = tfl.layers
    .conv2d({ name: 'conv1', filters: 16, kernelSize: 5, activation: 'relu', kernelInitializer: kernel(1) })
    .apply(image);
  const pool1 = tfl.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }).apply(conv1);
  const conv2 = tfl.layers
    .conv2d({ name: 'conv2', filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: kernel(2) })
    .apply(pool1);
  const pool2 = tfl.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }).apply(conv2);
  const flat = tfl.layers.flatten({ name: 'flatten' }).apply(pool2);
  const dropped = tfl.layers.dropout({ name: 'dropout', rate: dropoutRate }).apply(flat);
  const hidden = tfl.layers
    .dense({ name: 'dense1', units: 128, activation: 'relu', kernelInitializer: kernel(3) })
    .apply(dropped);
  const probabilities = tfl.layers
    .dense({ name: CNN_OUTPUT_NAME, units: CNN_NUM_CLASSES, activation: 'softmax', kernelInitializer: kernel(4) })
    .apply(hidden) as tfl.SymbolicTensor;

  const model = tfl.model({ name: 'mnist_cnn', inputs: image, outputs: probabilities });
  model.compile({
    optimizer: tf.train.adam(learningRate),
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  });
  return model;
}

/**
 * `createModel` hands Adam to the model as an instance, which tfjs-layers does not count as
 * owned, so `model.dispose()` alone would leave the optimiser's moment tensors behind.
 */
export function disposeModel(model: tfl.LayersModel): void {
  const optimizer = model.optimizer as tf.Optimizer | undefined;
  model.dispose();
  optimizer?.dispose();
}
