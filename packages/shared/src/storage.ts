import { Client } from 'minio';
import type { StorageSettings } from './settings.js';

export type Storage = { client: Client; settings: StorageSettings };

/** The one module that speaks S3. Objects are addressed by content, so writes are idempotent. */
export function createStorage(settings: StorageSettings): Storage {
  const client = new Client({
    endPoint: settings.host,
    port: settings.port,
    useSSL: settings.useSSL,
    accessKey: settings.accessKey,
    secretKey: settings.secretKey,
    region: settings.region,
    pathStyle: true,
  });
  return { client, settings };
}

/** Creates the buckets the services use when they are missing; existing ones are left alone. */
export async function ensureBuckets(storage: Storage): Promise<void> {
  for (const bucket of [storage.settings.imagesBucket, storage.settings.modelsBucket]) {
    if (!(await storage.client.bucketExists(bucket))) {
      try {
        await storage.client.makeBucket(bucket, storage.settings.region);
      } catch (error) {
        // Another service may have created it between the check and the call.
        if (!(await storage.client.bucketExists(bucket))) throw error;
      }
    }
  }
}

export async function pingStorage(storage: Storage): Promise<void> {
  if (!(await storage.client.bucketExists(storage.settings.imagesBucket))) {
    throw new Error(`bucket ${storage.settings.imagesBucket} does not exist`);
  }
}

/** `ab/abcdef….png`: the SHA-256 of the bytes, fanned out by its first byte. */
export function contentAddressedKey(sha256: string, extension: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 hex digest: ${sha256}`);
  return `${sha256.slice(0, 2)}/${sha256}.${extension}`;
}

export async function putObject(
  storage: Storage,
  bucket: string,
  key: string,
  bytes: Buffer,
  contentType: string,
): Promise<void> {
  await storage.client.putObject(bucket, key, bytes, bytes.length, { 'Content-Type': contentType });
}

export async function objectExists(storage: Storage, bucket: string, key: string): Promise<boolean> {
  try {
    await storage.client.statObject(bucket, key);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

export async function getObjectBytes(storage: Storage, bucket: string, key: string): Promise<Buffer> {
  const stream = await storage.client.getObject(bucket, key);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function listObjectKeys(storage: Storage, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of storage.client.listObjectsV2(bucket, prefix, true)) {
    const name = (item as { name?: string }).name;
    if (name !== undefined) keys.push(name);
  }
  return keys;
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === 'NotFound' || code === 'NoSuchKey';
}
