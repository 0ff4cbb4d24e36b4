import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BUNDLE_FILES, bundleMismatch, findBundleHashes, finishDeployment, startDeployment } from '@mlpl/shared';
import type { BundleHashes, ModelBundleFiles, Pool } from '@mlpl/shared';

/**
 * One POST the stub received: the bearer header and the three files, by field name; given the
 * database, what training had recorded of the version's hashes when the POST arrived.
 */
export type ReceivedBundle = { authorization: string | undefined; files: Partial<ModelBundleFiles>; fileNames: string[]; recorded?: BundleHashes | undefined };

export type AppbuilderStub = {
  url: string;
  received: ReceivedBundle[];
  /** Status the next POSTs are answered with; 202 (the real one's "build accepted") by default. */
  status: number;
  /** Runs after a POST is recorded and before it is answered (a fault test stops the database there). */
  beforeAnswer?: () => Promise<void>;
  close(): Promise<void>;
};

/**
 * For tests where the appbuilder is not the subject: an HTTP server on a free port that
 * records each multipart POST and answers as the real one would, `{version, ...}` as JSON.
 * Multipart is parsed by the platform's own Request.formData, so the stub adds no parser.
 * Given the database, it checks the bundle against the hashes training recorded and refuses it
 * (422) when there are none or they differ, and records an accepted bundle as deployed, as the
 * real appbuilder does once the new version serves: training takes the version in service from
 * those records.
 */
export async function startAppbuilderStub(options: { database?: Pool } = {}): Promise<AppbuilderStub> {
  const stub: AppbuilderStub = { url: '', received: [], status: 202, close: async () => undefined };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const request = new Request('http://stub/', {
          method: 'POST',
          headers: { 'content-type': req.headers['content-type'] ?? '' },
          body: Buffer.concat(chunks),
        });
        const form = await request.formData();
        const files: Partial<ModelBundleFiles> = {};
        const fileNames: string[] = [];
        for (const [field, name] of Object.entries(BUNDLE_FILES) as [keyof ModelBundleFiles, string][]) {
          const value = form.get(name);
          if (value instanceof Blob) {
            files[field] = Buffer.from(await value.arrayBuffer());
            if (value instanceof File) fileNames.push(value.name);
          }
        }
        const version = files.metadataJson === undefined ? undefined : String((JSON.parse(files.metadataJson.toString()) as { version: unknown }).version);
        // Read as the POST arrives (before beforeAnswer, which may stop the database).
        const recorded = options.database === undefined || version === undefined ? undefined : await findBundleHashes(options.database, version);
        stub.received.push({ authorization: req.headers.authorization, files, fileNames, ...(options.database === undefined ? {} : { recorded }) });
        await stub.beforeAnswer?.();
        const mismatch = options.database === undefined || version === undefined ? null : bundleMismatch(version, recorded, files as ModelBundleFiles);
        const status = mismatch === null ? stub.status : 422;
        const ok = status >= 200 && status < 300;
        if (ok && options.database !== undefined && version !== undefined) {
          const id = await startDeployment(options.database, { kind: 'deploy', modelVersion: version, image: `stub:${version}`, previousVersion: null });
          await finishDeployment(options.database, id, { status: 'deployed', durationMs: 1 });
        }
        res.writeHead(status, { 'content-type': 'application/json' });
        const refusal = mismatch === null ? { code: 'build_failed', message: 'stub told to fail' } : { code: 'bundle_mismatch', message: mismatch };
        res.end(JSON.stringify(ok ? { accepted: true } : { error: refusal }));
      })().catch((error: unknown) => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'bad_request', message: String(error) } }));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  stub.url = `http://127.0.0.1:${port}/`;
  stub.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return stub;
}
