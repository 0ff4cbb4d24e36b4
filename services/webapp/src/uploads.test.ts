import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, createTestStorage, renderDigitPng } from '@mlpl/shared/testing';
import type { TestDatabase, TestStorage } from '@mlpl/shared/testing';
import { loadPackagedMnist } from '@mlpl/shared/mnist-package';
import { form, startTestApp, storedCounts } from './test-support.js';
import type { Part, RunningApp } from './test-support.js';

const MAX_BYTES = 64 * 1024;
const BOUNDARY = 'mlpl-test-boundary';

/** A part as it is written on the wire, for bodies FormData cannot make (no name, no form-data disposition). */
type RawPart = { disposition: string; type?: string; body: string | Buffer };

function rawMultipart(parts: RawPart[]): Buffer {
  const chunks = parts.flatMap((part) => [
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${part.disposition}\r\n${part.type === undefined ? '' : `Content-Type: ${part.type}\r\n`}\r\n`),
    Buffer.isBuffer(part.body) ? part.body : Buffer.from(part.body),
    Buffer.from('\r\n'),
  ]);
  return Buffer.concat([...chunks, Buffer.from(`--${BOUNDARY}--\r\n`)]);
}

type Case = {
  name: string;
  path: 'predict' | 'feedback';
  body: () => Part[] | RawPart[];
  status: number;
  code: string;
  /** What the message must say: the limit, the field, what to send instead. */
  says: RegExp[];
};

describe('upload errors say what to send instead', () => {
  let db: TestDatabase;
  let s3: TestStorage;
  let app: RunningApp;
  let png: Buffer;

  before(async () => {
    db = await createTestDatabase();
    s3 = await createTestStorage();
    app = await startTestApp({ database: db.settings, storage: s3.settings, limits: { maxBytes: MAX_BYTES } });
    const mnist = loadPackagedMnist();
    const index = mnist.labels.indexOf(8);
    png = await renderDigitPng(mnist.images.subarray(index * 784, (index + 1) * 784), { scale: 2 });
  });
  after(async () => {
    await app.close();
    await db.drop();
  });

  const counts = () => storedCounts(db, s3);

  async function send(path: string, parts: Part[] | RawPart[]): Promise<{ status: number; body: { error: { code: string; message: string } } }> {
    const raw = parts.length > 0 && 'disposition' in (parts[0] as object);
    const response = await fetch(`${app.url}/api/${path}`, {
      method: 'POST',
      ...(raw
        ? { headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body: new Uint8Array(rawMultipart(parts as RawPart[])) }
        : { body: form(parts as Part[]) }),
    });
    return { status: response.status, body: (await response.json()) as { error: { code: string; message: string } } };
  }

  const image = (): Part => ({ name: 'image', file: png });
  const label: Part = { name: 'label', value: '8' };
  const feedbackFields = [/"image"/, /"label" \(the true digit, 0 to 9\)/, /"predictionId"/];
  const predictFields = [/send one file field "image" and nothing else/];
  const imagePart = (): RawPart => ({ disposition: 'form-data; name="image"; filename="digit.png"', type: 'image/png', body: png });

  const cases: Case[] = [
    ...(['predict', 'feedback'] as const).flatMap((path): Case[] => {
      const fields = path === 'feedback' ? [label] : [];
      return [
        {
          name: 'the file in field "file"',
          path,
          body: () => [{ name: 'file', file: png }, ...fields],
          status: 400,
          code: 'unexpected_field',
          says: [/field "file"/, /multipart file field "image"/, /-F image=@digit\.png/],
        },
        {
          name: 'a file over MAX_UPLOAD_BYTES',
          path,
          body: () => [{ name: 'image', file: Buffer.alloc(MAX_BYTES + 1, 1) }, ...fields],
          status: 413,
          code: 'image_too_large',
          says: [/limit of 65536 bytes/, /MAX_UPLOAD_BYTES/, /send a smaller file/],
        },
        { name: 'two images', path, body: () => [image(), image(), ...fields], status: 400, code: 'too_many_files', says: [/one image per request/] },
        {
          name: 'more text fields than the form has',
          path,
          body: () => [image(), ...fields, ...['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, value: 'x' }))],
          status: 400,
          code: 'too_many_fields',
          says: path === 'feedback' ? feedbackFields : predictFields,
        },
        {
          name: 'more parts than the form has',
          path,
          // Parts that are neither fields nor files count only towards the part limit.
          body: () => [imagePart(), ...Array.from({ length: 6 }, () => ({ disposition: 'inline', body: 'x' }))],
          status: 400,
          code: 'too_many_parts',
          says: path === 'feedback' ? feedbackFields : predictFields,
        },
        {
          name: 'a field name of 65 bytes',
          path,
          body: () => [image(), ...fields, { name: 'n'.repeat(65), value: 'x' }],
          status: 400,
          code: 'field_name_too_long',
          says: [/longer than 64 bytes/, ...(path === 'feedback' ? feedbackFields : predictFields)],
        },
        {
          name: 'a text part with no name',
          path,
          body: () => [imagePart(), { disposition: 'form-data', body: '8' }],
          status: 400,
          code: 'missing_field_name',
          says: [/no field name/, ...(path === 'feedback' ? feedbackFields : predictFields)],
        },
        {
          name: 'a file part with no name',
          path,
          body: () => [{ disposition: 'form-data; filename="digit.png"', type: 'image/png', body: png }],
          status: 400,
          code: 'missing_field_name',
          says: [/no field name/],
        },
        {
          name: 'the file name as text in field "image" (curl without @)',
          path,
          body: () => [{ name: 'image', value: 'digit.png' }, ...fields],
          status: 400,
          code: 'missing_image',
          says: [/came as text, not as a file/, /-F image=@digit\.png/],
        },
      ];
    }),
    {
      name: 'a label of 300 bytes',
      path: 'feedback',
      body: () => [image(), { name: 'label', value: '8'.repeat(300) }],
      status: 400,
      code: 'field_too_long',
      says: [/field "label" is longer than 256 bytes/, ...feedbackFields],
    },
    {
      name: 'a stray field of 300 bytes',
      path: 'predict',
      body: () => [image(), { name: 'note', value: 'x'.repeat(300) }],
      status: 400,
      code: 'field_too_long',
      says: [/field "note" is longer than 256 bytes/, ...predictFields],
    },
    {
      name: 'an unknown text field',
      path: 'feedback',
      body: () => [image(), label, { name: 'lable', value: '8' }],
      status: 400,
      code: 'unexpected_field',
      says: [/unexpected field\(s\): lable/, ...feedbackFields],
    },
  ];

  for (const testCase of cases) {
    it(`when /api/${testCase.path} gets ${testCase.name}, then it is ${testCase.status} ${testCase.code} saying what to send, and nothing is stored`, async () => {
      const before = await counts();
      const { status, body } = await send(testCase.path, testCase.body());
      assert.equal(status, testCase.status, JSON.stringify(body));
      assert.equal(body.error.code, testCase.code, body.error.message);
      for (const pattern of testCase.says) assert.match(body.error.message, pattern);
      assert.deepEqual(await counts(), before);
    });
  }

  it('when the body is right, then the same app answers (the cases above fail for their reason alone)', async () => {
    const predicted = await send('predict', [image()]);
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    const raw = await send('predict', [imagePart()]);
    assert.equal(raw.status, 200, JSON.stringify(raw.body));
  });
});
