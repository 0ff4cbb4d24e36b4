import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from './http-error.js';
import { expectedForm, multipartError, parseMultipart } from './multipart.js';
import type { MultipartForm } from './multipart.js';

/** What multer throws (`lib/multer-error.js`): read here by structure only. */
function multerError(code: string, field?: string): Error {
  return Object.assign(new Error(`multer says ${code}`), { name: 'MulterError', code, ...(field === undefined ? {} : { field }) });
}

const image: MultipartForm = {
  noun: 'image',
  files: { image: { maxBytes: 65536, setting: 'MAX_UPLOAD_BYTES' } },
  fields: { label: 'the true digit, 0 to 9' },
  tooLarge: { code: 'image_too_large', advice: 'send a smaller file' },
  curl: '-F image=@digit.png',
};

const bundle: MultipartForm = {
  noun: 'file',
  files: { 'model.json': { maxBytes: 1024, setting: 'MAX_MODEL_JSON_BYTES' }, 'weights.bin': { maxBytes: 2 * 1024 * 1024, setting: 'MAX_WEIGHTS_BYTES' } },
  fields: {},
  tooLarge: { code: 'file_too_large', advice: 'send a smaller file' },
  curl: '-F model.json=@model.json -F weights.bin=@weights.bin',
};

const answer = (error: unknown, form: MultipartForm) => {
  const http = multipartError(error, form);
  return [http.status, http.code, http.message];
};

describe('multipart errors', () => {
  it('when the form is described, then the fields are named as a client sends them', () => {
    assert.equal(expectedForm(image), 'send one file field "image" and the text fields "label" (the true digit, 0 to 9)');
    assert.equal(expectedForm(bundle), 'send the file fields "model.json", "weights.bin" and nothing else');
  });

  it('when a file is over its limit, then it is a 413 in the form\'s code naming the limit and its setting', () => {
    assert.deepEqual(answer(multerError('LIMIT_FILE_SIZE', 'image'), image), [413, 'image_too_large', 'the image is larger than the limit of 65536 bytes (MAX_UPLOAD_BYTES); send a smaller file']);
    assert.deepEqual(answer(multerError('LIMIT_FILE_SIZE', 'weights.bin'), bundle), [413, 'file_too_large', 'the file in field "weights.bin" is larger than the limit of 2.0 MiB (MAX_WEIGHTS_BYTES); send a smaller file']);
  });

  it('when a file comes in a field the form does not take, whatever its size, then it is unexpected_field with the curl to use', () => {
    const expected = [400, 'unexpected_field', 'a file came in field "file"; send the image as the multipart file field "image" (curl: -F image=@digit.png)'];
    assert.deepEqual(answer(multerError('LIMIT_UNEXPECTED_FILE', 'file'), image), expected);
    assert.deepEqual(answer(multerError('LIMIT_FILE_SIZE', 'file'), image), expected);
    assert.match(answer(multerError('LIMIT_UNEXPECTED_FILE', 'x'), bundle)[2] as string, /send the files as the multipart file fields "model.json", "weights.bin" \(curl: -F model\.json=@model\.json/);
  });

  it('when the body has the wrong shape, then each limit has its code and the message ends with what to send', () => {
    const cases: [string, string | undefined, string, RegExp][] = [
      ['LIMIT_FILE_COUNT', undefined, 'too_many_files', /^send one image per request$/],
      ['LIMIT_FIELD_COUNT', undefined, 'too_many_fields', /^too many fields; send one file field "image"/],
      ['LIMIT_PART_COUNT', undefined, 'too_many_parts', /^too many parts in the multipart body; send one file field/],
      ['LIMIT_FIELD_KEY', undefined, 'field_name_too_long', /longer than 64 bytes; send/],
      ['LIMIT_FIELD_VALUE', 'label', 'field_too_long', /^field "label" is longer than 256 bytes; send/],
      ['MISSING_FIELD_NAME', undefined, 'missing_field_name', /no field name; send/],
      ['LIMIT_FIELD_NESTING', undefined, 'bad_multipart', /^multer says LIMIT_FIELD_NESTING; send/],
    ];
    for (const [code, field, expected, says] of cases) {
      const [status, got, message] = answer(multerError(code, field), image);
      assert.deepEqual([status, got], [400, expected], code);
      assert.match(message as string, says, code);
    }
    assert.match(answer(multerError('LIMIT_FILE_COUNT'), bundle)[2] as string, /^too many files, one per field; send the file fields/);
  });

  it('when the parser fails otherwise, then the body is malformed: a 400', () => {
    assert.deepEqual(answer(new Error('Unexpected end of form'), image), [400, 'bad_multipart', 'malformed multipart body: Unexpected end of form']);
  });

  it('when a parser is wrapped, then a body it takes goes on, and its errors go on as answers', () => {
    const outcomes: unknown[] = [];
    for (const error of [undefined, multerError('LIMIT_FILE_COUNT')]) {
      parseMultipart((_req: null, _res: null, done) => done(error), image)(null, null, (passed) => outcomes.push(passed));
    }
    assert.equal(outcomes[0], undefined);
    assert.ok(outcomes[1] instanceof HttpError && outcomes[1].code === 'too_many_files');
  });
});
