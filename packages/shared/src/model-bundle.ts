import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { writeAtomically } from './helpers.js';
import { isRecord, readMetrics, readTrainingSummary } from './lineage.js';
import type { ModelMetrics, TrainingSummary } from './lineage.js';
import { checkVersionName } from './version-name.js';

/**
 * A model bundle is three files: a tfjs LayersModel (`model.json` + `weights.bin`) and
 * `metadata.json`. They are data, never code. Reading and writing them needs no tfjs-node
 * file handler, so the same functions work on every backend.
 */
export const BUNDLE_FILES = {
  modelJson: 'model.json',
  weightsBin: 'weights.bin',
  metadataJson: 'metadata.json',
} as const;

export type ModelBundleFiles = { modelJson: Buffer; weightsBin: Buffer; metadataJson: Buffer };

export type ModelMetadata = {
  version: string;
  created: string;
  parent: string | null;
  input: { shape: [28, 28, 1]; dtype: 'float32'; range: [0, 1]; polarity: 'white-on-black' };
  preprocessing: { version: number };
  labels: string[];
  training: TrainingSummary;
  metrics: ModelMetrics;
};

export const BundleErrorCodes = {
  invalidJson: 'invalid_json',
  invalidTopology: 'invalid_topology',
  weightsMismatch: 'weights_mismatch',
  invalidMetadata: 'invalid_metadata',
  unservable: 'unservable_model',
} as const;
export type BundleErrorCode = (typeof BundleErrorCodes)[keyof typeof BundleErrorCodes];

export class BundleError extends Error {
  constructor(
    readonly code: BundleErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BundleError';
  }
}

const INPUT_SHAPE = [null, 28, 28, 1];
const OUTPUT_SHAPE = [null, 10];

const BYTES_PER_ELEMENT: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, uint8: 1, float16: 2, uint16: 2 };

export async function serializeModel(model: tfl.LayersModel, metadata: ModelMetadata): Promise<ModelBundleFiles> {
  let files: ModelBundleFiles | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      if (weightData === undefined || artifacts.weightSpecs === undefined) {
        throw new Error('model has no weights to save');
      }
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [BUNDLE_FILES.weightsBin], weights: artifacts.weightSpecs }],
      };
      const joined = tf.io.CompositeArrayBuffer.join(weightData);
      files = {
        modelJson: Buffer.from(JSON.stringify(modelJson)),
        weightsBin: Buffer.from(joined),
        metadataJson: Buffer.from(JSON.stringify(metadata, null, 2)),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (files === undefined) throw new Error('model.save did not call the save handler');
  return files;
}

type ParsedModelJson = {
  modelTopology: object;
  format?: string;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
};

function parseJson(bytes: Buffer, file: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new BundleError(BundleErrorCodes.invalidJson, `${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Checks the structure of model.json and that weights.bin holds exactly the bytes it declares. */
export function parseModelJson(files: Pick<ModelBundleFiles, 'modelJson' | 'weightsBin'>): ParsedModelJson {
  const parsed = parseJson(files.modelJson, BUNDLE_FILES.modelJson);
  if (!isRecord(parsed) || !isRecord(parsed.modelTopology) || !Array.isArray(parsed.weightsManifest)) {
    throw new BundleError(BundleErrorCodes.invalidTopology, 'model.json needs a modelTopology object and a weightsManifest array');
  }
  if (parsed.format !== undefined && parsed.format !== 'layers-model') {
    throw new BundleError(BundleErrorCodes.invalidTopology, `model.json format must be layers-model, got ${String(parsed.format)}`);
  }
  let declared = 0;
  for (const group of parsed.weightsManifest as unknown[]) {
    if (!isRecord(group) || !Array.isArray(group.weights) || !Array.isArray(group.paths)) {
      throw new BundleError(BundleErrorCodes.invalidTopology, 'each weightsManifest group needs paths and weights');
    }
    if (group.paths.length !== 1 || group.paths[0] !== BUNDLE_FILES.weightsBin) {
      throw new BundleError(BundleErrorCodes.invalidTopology, `weightsManifest must name exactly one file, ${BUNDLE_FILES.weightsBin}`);
    }
    for (const entry of group.weights as unknown[]) declared += declaredBytes(entry);
  }
  if (declared !== files.weightsBin.length) {
    throw new BundleError(
      BundleErrorCodes.weightsMismatch,
      `weights.bin has ${files.weightsBin.length} bytes but model.json declares ${declared}`,
    );
  }
  return parsed as ParsedModelJson;
}

function declaredBytes(entry: unknown): number {
  if (!isRecord(entry) || typeof entry.name !== 'string' || !Array.isArray(entry.shape)) {
    throw new BundleError(BundleErrorCodes.invalidTopology, 'a weight entry needs a name and a shape');
  }
  const shape = entry.shape as unknown[];
  if (!shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    throw new BundleError(BundleErrorCodes.invalidTopology, `weight ${entry.name} has a bad shape`);
  }
  const quantization = isRecord(entry.quantization) ? entry.quantization : undefined;
  const dtype = String(quantization?.dtype ?? entry.dtype);
  const size = BYTES_PER_ELEMENT[dtype];
  if (size === undefined) throw new BundleError(BundleErrorCodes.invalidTopology, `weight ${entry.name} has unknown dtype ${dtype}`);
  return (shape as number[]).reduce((product, d) => product * d, 1) * size;
}

/** Checks metadata.json has every field serving and lineage rely on. */
export function parseMetadata(bytes: Buffer, expectedPreprocessingVersion: number): ModelMetadata {
  const parsed = parseJson(bytes, BUNDLE_FILES.metadataJson);
  const problems: string[] = [];
  if (!isRecord(parsed)) throw new BundleError(BundleErrorCodes.invalidMetadata, 'metadata.json must be an object');
  const versionProblem = checkVersionName(parsed.version);
  if (versionProblem !== null) problems.push(`version: ${versionProblem}`);
  if (typeof parsed.created !== 'string' || Number.isNaN(Date.parse(parsed.created))) problems.push('created must be an ISO date');
  if (parsed.parent !== null && typeof parsed.parent !== 'string') problems.push('parent must be a version or null');
  const preprocessing = isRecord(parsed.preprocessing) ? parsed.preprocessing : undefined;
  if (preprocessing?.version !== expectedPreprocessingVersion) {
    problems.push(`preprocessing.version must be ${expectedPreprocessingVersion}, the version this code applies`);
  }
  const input = isRecord(parsed.input) ? parsed.input : undefined;
  if (JSON.stringify(input?.shape) !== '[28,28,1]') problems.push('input.shape must be [28,28,1]');
  if (!Array.isArray(parsed.labels) || parsed.labels.length !== 10 || !parsed.labels.every((l) => typeof l === 'string')) {
    problems.push('labels must be 10 strings');
  }
  if (!isRecord(parsed.training)) problems.push('training must be an object');
  const metrics = isRecord(parsed.metrics) ? parsed.metrics : undefined;
  if (typeof metrics?.accuracy !== 'number' || metrics.accuracy < 0 || metrics.accuracy > 1) {
    problems.push('metrics.accuracy must be a number in [0, 1]');
  }
  if (typeof metrics?.testCount !== 'number' || !Number.isInteger(metrics.testCount) || metrics.testCount < 0) {
    problems.push('metrics.testCount must be a whole number');
  }
  if (problems.length > 0) throw new BundleError(BundleErrorCodes.invalidMetadata, `metadata.json: ${problems.join('; ')}`);
  return upgradeMetadata(parsed);
}

/**
 * Metadata as stored, checked by `parseMetadata` or recorded by a webapp that did, with its
 * `training` in today's shape (bundles and records of earlier versions may hold another).
 */
export function upgradeMetadata(stored: unknown): ModelMetadata {
  const record = isRecord(stored) ? stored : {};
  const training = readTrainingSummary(isRecord(record.training) ? record.training : {}, record);
  // The figures every reader uses, read field by field; the rest is as parseMetadata checked it.
  const metrics = readMetrics(isRecord(record.metrics) ? record.metrics : {});
  return { ...record, training, metrics } as unknown as ModelMetadata;
}

/**
 * Validates all three files and loads the model; the model must take 28×28×1 and give 10
 * finite probabilities. The caller owns the returned model and disposes it.
 */
export async function loadModelBundle(
  files: ModelBundleFiles,
  expectedPreprocessingVersion: number,
): Promise<{ model: tfl.LayersModel; metadata: ModelMetadata }> {
  const modelJson = parseModelJson(files);
  const metadata = parseMetadata(files.metadataJson, expectedPreprocessingVersion);
  let model: tfl.LayersModel;
  try {
    const weightData = files.weightsBin.buffer.slice(
      files.weightsBin.byteOffset,
      files.weightsBin.byteOffset + files.weightsBin.byteLength,
    ) as ArrayBuffer;
    model = await tfl.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: modelJson.modelTopology,
        weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights),
        weightData,
      }),
    );
  } catch (error) {
    throw new BundleError(BundleErrorCodes.invalidTopology, `model.json does not load: ${(error as Error).message}`);
  }
  try {
    assertServable(model);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, metadata };
}

function assertServable(model: tfl.LayersModel): void {
  const input = model.inputs.length === 1 ? model.inputs[0]?.shape : undefined;
  const output = model.outputs.length === 1 ? model.outputs[0]?.shape : undefined;
  if (JSON.stringify(input) !== JSON.stringify(INPUT_SHAPE) || JSON.stringify(output) !== JSON.stringify(OUTPUT_SHAPE)) {
    throw new BundleError(
      BundleErrorCodes.unservable,
      `model must map [null,28,28,1] to [null,10], got ${JSON.stringify(input)} to ${JSON.stringify(output)}`,
    );
  }
  const probabilities = Array.from(tf.tidy(() => (model.predict(tf.zeros([1, 28, 28, 1])) as tf.Tensor).dataSync()));
  const sum = probabilities.reduce((a, b) => a + b, 0);
  if (!probabilities.every(Number.isFinite) || Math.abs(sum - 1) > 1e-3) {
    throw new BundleError(BundleErrorCodes.unservable, 'model output is not a probability distribution');
  }
}

export async function readBundleDir(dir: string): Promise<ModelBundleFiles> {
  const [modelJson, weightsBin, metadataJson] = await Promise.all([
    readFile(path.join(dir, BUNDLE_FILES.modelJson)),
    readFile(path.join(dir, BUNDLE_FILES.weightsBin)),
    readFile(path.join(dir, BUNDLE_FILES.metadataJson)),
  ]);
  return { modelJson, weightsBin, metadataJson };
}

/** Writes each file beside itself first and renames, so a reader never sees half a bundle file. */
export async function writeBundleDir(dir: string, files: ModelBundleFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [field, name] of Object.entries(BUNDLE_FILES) as [keyof ModelBundleFiles, string][]) {
    await writeAtomically(path.join(dir, name), files[field]);
  }
}
