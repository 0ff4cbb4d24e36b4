import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BUNDLE_FILES, finishDeployment, startDeployment } from '@mlpl/shared';
import type { ModelBundleFiles, Pool } from '@mlpl/shared';

/** One POST the stub received: the bearer header and the three files, by field name. */
export type ReceivedBundle = { authorization: string | undefined; files: Partial<ModelBundleFiles>; fileNames: string[] };

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
 * Given the database, it records an accepted bundle as deployed, as the real appbuilder does
 * once the new version serves: training takes the version in service from those records.
 */
export async function startAppbuilderStub(options: { deployments?: Pool } = {}): Promise<AppbuilderStub> {
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
        stub.received.push({ authorization: req.headers.authorization, files, fileNames });
        await stub.beforeAnswer?.();
        const ok = stub.status >= 200 && stub.status < 300;
        if (ok && options.deployments !== undefined && files.metadataJson !== undefined) {
          const version = String((JSON.parse(files.metadataJson.toString()) as { version: unknown }).version);
          const id = await startDeployment(options.deployments, { kind: 'deploy', modelVersion: version, image: `stub:${version}`, previousVersion: null });
          await finishDeployment(options.deployments, id, { status: 'deployed', durationMs: 1 });
        }
        res.writeHead(stub.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ok ? { accepted: true } : { error: { code: 'build_failed', message: 'stub told to fail' } }));
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
