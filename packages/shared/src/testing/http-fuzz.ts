/**
 * Property-based HTTP fuzzing for the three services (fast-check): random methods, paths, path
 * parameters, query strings, headers and bodies against a list of routes, each answer checked
 * to be 2xx, 3xx or a 4xx `{error: {code, message}}`, never a 5xx or a hang. Requests are sent
 * with node:http, not fetch, so methods and headers fetch forbids can be sent too.
 */
import http from 'node:http';
import fc from 'fast-check';

/** A multipart form a route takes: its file fields, its text fields, and which of them it requires. */
export type FuzzForm = { files: readonly string[]; texts: readonly string[]; required: readonly string[] };

/** One route of a service; `path` may hold `{name}` parameters, as in OpenAPI. */
export type FuzzRoute = { method: string; path: string; form?: FuzzForm };

export type FuzzRequest = { route: string; method: string; path: string; headers: Record<string, string>; body: Buffer | undefined };
export type FuzzAnswer = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

/** The routes of an OpenAPI document, with the multipart fields each takes. */
export function routesOfOpenApi(document: { paths: Record<string, Record<string, unknown>> }): FuzzRoute[] {
  const routes: FuzzRoute[] = [];
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      type Schema = { required?: string[]; properties?: Record<string, { format?: string }> };
      const schema = (operation as { requestBody?: { content?: Record<string, { schema?: Schema }> } }).requestBody?.content?.['multipart/form-data']?.schema;
      const fields = Object.entries(schema?.properties ?? {});
      const form = { files: fields.filter(([, field]) => field.format === 'binary').map(([name]) => name), texts: fields.filter(([, field]) => field.format !== 'binary').map(([name]) => name), required: schema?.required ?? [] };
      routes.push({ method: method.toUpperCase(), path, ...(fields.length > 0 ? { form } : {}) });
    }
  }
  return routes;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND'] as const;

/** What a path parameter may be: valid names, traversal, bad percent-encoding, unicode, numbers, very long. */
const parameter = fc.oneof(
  fc.constantFrom('..', '..%2f..%2fetc%2fpasswd', '%2e%2e', '%', '%zz', '%00', '%ff', '%c0%ae', 'latest', 'current', 'v1', '0', '-1', '1e9', '99999999999999999999', 'NaN', '.', '~', '%20', 'a;b', 'a,b'),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
  fc.integer({ min: -10, max: 2 ** 53 }).map(String),
  fc.integer({ min: 100, max: 4000 }).map((n) => 'a'.repeat(n)),
);

const token = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~'.split('')), minLength: 1, maxLength: 12 });
/** Printable ASCII: what node:http lets a client put in a header value. */
const headerText = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });

function queryString(): fc.Arbitrary<string> {
  const key = fc.oneof(fc.constantFrom('limit', 'bucket', 'kind', 'version', 'mode', 'force', 'wait', 'limit[]', 'bucket[a]', 'wait[]', '__proto__', 'constructor', 'hasOwnProperty'), token);
  const value = fc.oneof(
    fc.constantFrom('', '1', '0', '-1', '999', '1000', '1e3', '0x10', 'NaN', 'true', 'false', 'fine-tune', 'scratch', 'minute', 'hour', 'day', 'all', 'correction', 'unlinked', '%', '%zz'),
    fc.string({ unit: 'grapheme', maxLength: 30 }).map(encodeURIComponent),
  );
  // Repeated keys make arrays of express's query values.
  return fc.array(fc.tuple(key, value), { maxLength: 4 }).map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));
}

function pathOf(routes: readonly FuzzRoute[]): fc.Arbitrary<{ route: string; template: FuzzRoute | undefined; path: string }> {
  // Routes that take uploads are drawn three times as often: their bodies have most to get wrong.
  const weighted = routes.flatMap((route) => (route.form === undefined ? [route] : [route, route, route]));
  const fromRoute = fc.tuple(fc.constantFrom(...weighted), parameter, fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('/', '//', '/extra', '.json', '%2F', '/..') })).map(([route, value, suffix]) => ({
    route: `${route.method} ${route.path}`,
    template: route,
    path: route.path.replace(/\{[^}]+\}/g, value) + suffix,
  }));
  const other = fc
    .oneof(
      fc.constantFrom('/', '//api//predict', '/API/PREDICT', '/api', '/api/', '/%2e%2e/%2e%2e/etc/passwd', '/../../package.json', '/docs/assets/..%2f..%2fpackage.json', '/index.html', '/favicon.ico', '/%', '/%zz', '/internal/model', '/.env'),
      fc.array(fc.oneof(token, parameter), { minLength: 1, maxLength: 4 }).map((segments) => `/${segments.join('/')}`),
      fc.array(fc.oneof(token, parameter), { minLength: 1, maxLength: 3 }).map((segments) => `/api/${segments.join('/')}`),
    )
    .map((path) => ({ route: 'other', template: undefined, path }));
  return fc.oneof({ weight: 4, arbitrary: fromRoute }, { weight: 1, arbitrary: other });
}

/** File contents a multipart part may carry; `images` are valid ones the service accepts. */
function fileContent(images: readonly Buffer[], tooLarge: number): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...images) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...images), fc.double({ min: 0, max: 1, noNaN: true })).map(([image, share]) => image.subarray(0, Math.floor(image.length * share))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 1, arbitrary: fc.constantFrom(Buffer.from('GIF89a not really'), Buffer.from('%PDF-1.4\n'), Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), Buffer.alloc(0)) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(tooLarge, 0x41)) },
  );
}

type Part = { name: string; filename: string | undefined; type: string | undefined; encoding: string | undefined; content: Buffer };

function multipart(form: FuzzForm, allFields: readonly string[], images: readonly Buffer[], tooLarge: number): fc.Arbitrary<{ type: string; body: Buffer }> {
  const name = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...allFields) }, { weight: 1, arbitrary: fc.oneof(token, fc.constant(''), fc.string({ unit: 'grapheme', maxLength: 10 }), headerText(300)) });
  const textValue = fc.oneof(fc.constantFrom('0', '7', '9', '10', '-1', '1.5', ' 3', '', 'seven', '00000000-0000-0000-0000-000000000000'), fc.uuid(), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 100, max: 3000 }).map((n) => 'x'.repeat(n)));
  const part: fc.Arbitrary<Part> = fc.oneof(
    fc.record({ name, filename: fc.constant(undefined), type: fc.option(fc.constantFrom('text/plain; charset=utf-8', 'text/plain; charset=latin1', 'application/json'), { nil: undefined }), encoding: fc.constant(undefined), content: textValue.map((value) => Buffer.from(value)) }),
    fc.record({
      name,
      filename: fc.oneof(fc.constantFrom('digit.png', '../../etc/passwd', 'a"b.png', 'ünïcödé.png', '', 'x.exe'), headerText(200)),
      type: fc.option(fc.constantFrom('image/png', 'image/jpeg', 'image/svg+xml', 'application/octet-stream', 'text/html', 'x', ''), { nil: undefined }),
      encoding: fc.option(fc.constantFrom('base64', 'quoted-printable', '8bit', 'binary'), { nil: undefined }),
      content: fileContent(images, tooLarge),
    }),
  );
  const file = (name: string): fc.Arbitrary<Part> => fc.record({ name: fc.constant(name), filename: fc.constant(name.includes('.') ? name : `${name}.png`), type: fc.constant(undefined), encoding: fc.constant(undefined), content: fileContent(images, tooLarge) });
  const text = (name: string): fc.Arbitrary<Part> => fc.record({ name: fc.constant(name), filename: fc.constant(undefined), type: fc.constant(undefined), encoding: fc.constant(undefined), content: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 9 }).map(String) }, { weight: 1, arbitrary: textValue }).map((value) => Buffer.from(value)) });
  // A required field always, an optional one now and then.
  const field = (name: string, arbitrary: fc.Arbitrary<Part>) => (form.required.includes(name) ? arbitrary : fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary }));
  const named = fc.tuple(...form.files.map((name) => field(name, file(name))), ...form.texts.map((name) => field(name, text(name))));
  // Mostly what a form sends (its fields, in any order, now and then one more part), so that some are accepted and write.
  const parts = fc.oneof(
    { weight: 2, arbitrary: fc.tuple(named.chain((own) => fc.shuffledSubarray(own.filter((p): p is Part => p !== undefined), { minLength: own.filter((p) => p !== undefined).length })), fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: part })).map(([own, extra]) => (extra === undefined ? own : [...own, extra])) },
    { weight: 1, arbitrary: fc.array(part, { maxLength: 5 }) },
  );
  const boundary = fc.stringMatching(/^[A-Za-z0-9'()+_,.\/:=? -]{0,69}[A-Za-z0-9'()+_,.\/:=?-]$/);
  return fc.record({ parts, boundary, closed: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), typed: fc.constantFrom('multipart/form-data', 'multipart/form-data', 'multipart/form-data', 'multipart/mixed', 'MULTIPART/FORM-DATA') }).map(({ parts, boundary, closed, typed }) => {
    const chunks: Buffer[] = [];
    for (const p of parts) {
      const disposition = `Content-Disposition: form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
      const head = [disposition, ...(p.type === undefined ? [] : [`Content-Type: ${p.type}`]), ...(p.encoding === undefined ? [] : [`Content-Transfer-Encoding: ${p.encoding}`])];
      chunks.push(Buffer.from(`--${boundary}\r\n${head.join('\r\n')}\r\n\r\n`, 'latin1'), p.content, Buffer.from('\r\n'));
    }
    // Unclosed: a truncated upload, its last boundary never comes.
    if (closed) chunks.push(Buffer.from(`--${boundary}--\r\n`));
    return { type: `${typed}; boundary="${boundary}"`, body: Buffer.concat(chunks) };
  });
}

function body(form: FuzzForm, allFields: readonly string[], images: readonly Buffer[], tooLarge: number, upload: boolean): fc.Arbitrary<{ type: string | undefined; body: Buffer | undefined }> {
  const contentType = fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'multipart/form-data; boundary=', 'image/png', 'application/json; charset=utf-16', 'x/y; ;;;=', '');
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant({ type: undefined, body: undefined }) },
    { weight: 1, arbitrary: fc.tuple(contentType, fc.uint8Array({ maxLength: 4096 })).map(([type, bytes]) => ({ type, body: Buffer.from(bytes) })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain'), fc.oneof(fc.json({ maxDepth: 3 }), fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/), fc.string({ unit: 'grapheme', maxLength: 80 }), fc.jsonValue()).chain((version) => fc.constantFrom({ version }, { version, extra: 1 }, [version])).map((value) => JSON.stringify(value)))).map(([type, json]) => ({ type, body: Buffer.from(json) })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('application/x-www-form-urlencoded', 'text/plain'), queryString()).map(([type, query]) => ({ type, body: Buffer.from(query.slice(1)) })) },
    { weight: upload ? 16 : 4, arbitrary: multipart(form, allFields, images, tooLarge) },
  );
}

function headers(bearers: readonly string[]): fc.Arbitrary<Record<string, string>> {
  const value = headerText(60);
  // One large value at most: node refuses (431, before any route) headers over 16 KiB in all.
  const large = fc.option(fc.tuple(fc.constantFrom('authorization', 'x-mlpl-probe', 'cookie', 'x-forwarded-for', 'x-custom'), fc.integer({ min: 1000, max: 8000 })), { nil: undefined });
  return fc
    .record(
      {
        authorization: fc.oneof({ weight: 2, arbitrary: fc.oneof(value.map((v) => `Bearer ${v}`), fc.constantFrom('Bearer', 'Basic Zm9vOmJhcg==', 'bearer  x', 'Bearer \t')) }, ...bearers.map((bearer) => ({ weight: 2, arbitrary: fc.constantFrom(`Bearer ${bearer}`, `bearer ${bearer}`, `Bearer  ${bearer}`, `Bearer ${bearer} `) }))),
        'x-mlpl-probe': value,
        accept: fc.constantFrom('*/*', 'application/json', 'text/html', 'image/*', ''),
        'accept-encoding': fc.constantFrom('gzip', 'br', 'identity;q=0', 'x'),
        'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x'),
        'x-forwarded-for': fc.oneof(fc.ipV4(), fc.ipV6(), value),
        range: fc.constantFrom('bytes=0-1', 'bytes=-1', 'bytes=9999999-', 'bytes=x'),
        'if-none-match': value,
        cookie: value,
        'x-custom': value,
      },
      { requiredKeys: [] },
    )
    // With tokens to send, half the requests carry a right one, so the checks behind it are reached.
    .chain((record) => (bearers.length === 0 ? fc.constant(record) : fc.oneof(fc.constant(record), fc.constantFrom(...bearers).map((bearer) => ({ ...record, authorization: `Bearer ${bearer}` })))))
    .chain((record) => large.map((big) => (big === undefined ? record : { ...record, [big[0]]: `Bearer ${'b'.repeat(big[1])}` })))
    .map((record) => Object.fromEntries(Object.entries(record).filter((entry): entry is [string, string] => entry[1] !== undefined)));
}

/**
 * A random request against `routes`: usually a route's own method with random parameters and
 * body, sometimes another method or a path no route has. `images` are valid uploads (so some
 * requests succeed and write); files of `tooLarge` bytes exceed the upload limit.
 */
export function fuzzRequest(routes: readonly FuzzRoute[], options: { images: readonly Buffer[]; tooLarge: number; bearers?: readonly string[] }): fc.Arbitrary<FuzzRequest> {
  const allFields = [...new Set(routes.flatMap((route) => [...(route.form?.files ?? []), ...(route.form?.texts ?? [])])), 'file'];
  const noForm: FuzzForm = { files: [], texts: [], required: [] };
  // An upload route's well-formed bodies carry its own fields; random parts draw on every route's.
  const other = body(noForm, allFields, options.images, options.tooLarge, false);
  const uploads = new Map(routes.map((route) => [route, body(route.form ?? noForm, allFields, options.images, options.tooLarge, true)]));
  return pathOf(routes)
    .chain((target) => fc.record({ target: fc.constant(target), ownMethod: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), otherMethod: fc.constantFrom(...METHODS), query: queryString(), headers: headers(options.bearers ?? []), body: (target.template?.form === undefined ? undefined : uploads.get(target.template)) ?? other }))
    .map(({ target, ownMethod, otherMethod, query, headers, body }) => {
      const method = ownMethod && target.template !== undefined ? target.template.method : otherMethod;
      const withType = body.type === undefined ? headers : { ...headers, 'content-type': body.type };
      // A body with HEAD or GET is legal but node:http will not send one with HEAD and read the answer.
      return { route: ownMethod ? target.route : `${method} ${target.template?.path ?? 'other'}`, method, path: target.path + query, headers: withType, body: method === 'HEAD' ? undefined : body.body };
    });
}

/** Sends one request; rejects when no answer has come within `timeoutMs`. */
export function sendRequest(base: string, request: FuzzRequest, timeoutMs: number): Promise<FuzzAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = http.request({ host: url.hostname, port: url.port, method: request.method, path: request.path, headers: { ...request.headers, connection: 'close', ...(request.body === undefined ? {} : { 'content-length': String(request.body.length) }) }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    // Node frames a GET's body only with a length: without one the server reads it as the next request.
    // A server that answers early (413) may close before the body is sent: the answer still counts.
    req.on('error', reject);
    req.end(request.body);
  });
}

/** What is wrong with an answer, or undefined: a 5xx, or a 4xx without `{error: {code, message}}`. */
export function answerProblem(request: FuzzRequest, answer: FuzzAnswer): string | undefined {
  if (answer.status >= 500) return `${answer.status}: ${answer.body.toString('utf8', 0, 300)}`;
  if (answer.status < 400 || request.method === 'HEAD') return undefined;
  if (!/^application\/json/.test(answer.headers['content-type'] ?? '')) return `${answer.status} with content-type ${answer.headers['content-type']}`;
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code !== 'string' || typeof parsed.error.message !== 'string') return `${answer.status} without {error: {code, message}}: ${answer.body.toString('utf8', 0, 300)}`;
  } catch {
    return `${answer.status} with a body that is not JSON: ${answer.body.toString('utf8', 0, 300)}`;
  }
  return undefined;
}

/** How many requests each route had, and of which statuses: `{'POST /api/predict': {'200': 3, '400': 9}}`. */
export class FuzzTally {
  readonly counts = new Map<string, Map<number, number>>();
  add(route: string, status: number): void {
    const statuses = this.counts.get(route) ?? new Map<number, number>();
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    this.counts.set(route, statuses);
  }
  get total(): number {
    return [...this.counts.values()].reduce((sum, statuses) => sum + [...statuses.values()].reduce((a, b) => a + b, 0), 0);
  }
  lines(): string[] {
    return [...this.counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([route, statuses]) => `${route}: ${[...statuses.entries()].sort(([a], [b]) => a - b).map(([status, n]) => `${status}×${n}`).join(' ')}`);
  }
}

/** FUZZ_RUNS (default `fallback`, small enough for CI) and FUZZ_SEED (default random, printed to reproduce). */
export function fuzzSettings(fallback: number): { runs: number; seed: number } {
  const runs = Number(process.env.FUZZ_RUNS ?? fallback);
  const seed = process.env.FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`FUZZ_RUNS must be a positive integer, not ${process.env.FUZZ_RUNS}`);
  return { runs, seed };
}

/**
 * Sends `runs` random requests one at a time, failing with the smallest request fast-check finds
 * that gets a 5xx, a bad error answer or no answer. `onAnswer` sees every answer (for counts).
 */
export async function fuzzServer(options: {
  base: string;
  routes: readonly FuzzRoute[];
  images: readonly Buffer[];
  tooLarge: number;
  /** Tokens the service takes, sent now and then, so that what lies behind its token check is reached too. */
  bearers?: readonly string[];
  runs: number;
  seed: number;
  timeoutMs?: number;
  tally: FuzzTally;
  onAnswer?: (request: FuzzRequest, answer: FuzzAnswer) => void;
}): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fuzzRequest(options.routes, options), async (request) => {
      const answer = await sendRequest(options.base, request, options.timeoutMs ?? 10_000);
      options.tally.add(request.route, answer.status);
      options.onAnswer?.(request, answer);
      const problem = answerProblem(request, answer);
      if (problem !== undefined) throw new Error(`${request.method} ${request.path.slice(0, 200)}: ${problem}`);
    }),
    { numRuns: options.runs, seed: options.seed, includeErrorInReport: true },
  );
}
