import type { RequestHandler } from 'express';
import multer from 'multer';
import { formatBytes } from '@mlpl/shared';
import { HttpError } from './errors.js';

/** The text fields a route takes besides the file `image`, each with what it holds. */
export type TextFields = Readonly<Record<string, string>>;

/** Longest field name and text value accepted, bytes: ample for "predictionId" and a UUID. */
const FIELD_NAME_BYTES = 64;
const FIELD_VALUE_BYTES = 256;

/** What to send instead: the end of every message about the form's shape. */
function expectedForm(textFields: TextFields): string {
  const text = Object.entries(textFields).map(([name, holds]) => `"${name}" (${holds})`);
  return `send one file field "image"${text.length === 0 ? ' and nothing else' : ` and the text fields ${text.join(', ')}`}`;
}

/** Multer's own messages ("Unexpected file field", "File too large") say what is wrong, not what to do. */
function uploadError(error: multer.MulterError, maxBytes: number, textFields: TextFields): HttpError {
  const form = expectedForm(textFields);
  const field = JSON.stringify(error.field ?? '');
  switch (error.code) {
    case 'LIMIT_FILE_SIZE':
      return new HttpError(413, 'image_too_large', `the image is larger than the limit of ${formatBytes(maxBytes)} (MAX_UPLOAD_BYTES); send a smaller file: a digit needs no more than a few hundred pixels a side`);
    case 'LIMIT_UNEXPECTED_FILE':
      return new HttpError(400, 'unexpected_field', `a file came in field ${field}; send the image as the multipart file field "image" (curl: -F image=@digit.png)`);
    case 'LIMIT_FILE_COUNT':
      return new HttpError(400, 'too_many_files', 'send one image per request');
    case 'LIMIT_FIELD_COUNT':
      return new HttpError(400, 'too_many_fields', `too many fields; ${form}`);
    case 'LIMIT_PART_COUNT':
      return new HttpError(400, 'too_many_parts', `too many parts in the multipart body; ${form}`);
    case 'LIMIT_FIELD_KEY':
      return new HttpError(400, 'field_name_too_long', `a field name is longer than ${FIELD_NAME_BYTES} bytes; ${form}`);
    case 'LIMIT_FIELD_VALUE':
      return new HttpError(400, 'field_too_long', `field ${field} is longer than ${FIELD_VALUE_BYTES} bytes; ${form}`);
    case 'MISSING_FIELD_NAME':
      return new HttpError(400, 'missing_field_name', `a part of the multipart body has no field name; ${form}`);
    default:
      return new HttpError(400, 'bad_multipart', `${(error as Error).message}; ${form}`);
  }
}

/**
 * Multipart parsing held in memory: uploads are small (MAX_UPLOAD_BYTES) and are hashed,
 * checked and stored from the buffer, so no temporary file can be left behind.
 */
export function imageUpload(maxBytes: number, textFields: TextFields): RequestHandler[] {
  const names = Object.keys(textFields);
  const parse = multer({
    storage: multer.memoryStorage(),
    limits: {
      fileSize: maxBytes,
      files: 1,
      // A little room over the expected fields, so a stray one is named below rather than
      // reported as a bare count by multer.
      fields: names.length + 2,
      fieldNameSize: FIELD_NAME_BYTES,
      fieldSize: FIELD_VALUE_BYTES,
      parts: names.length + 3,
    },
  }).single('image');
  // Anything the multipart parser throws besides its own limit errors is a malformed body
  // (busboy: "Unexpected end of form", "Malformed part header", …).
  const parseOrReject: RequestHandler = (req, res, next) => {
    parse(req, res, (error?: unknown) => {
      if (error === undefined) return next();
      if (error instanceof multer.MulterError) return next(uploadError(error, maxBytes, textFields));
      next(new HttpError(400, 'bad_multipart', `malformed multipart body: ${(error as Error).message}`));
    });
  };
  const check: RequestHandler = (req, _res, next) => {
    const unknown = Object.keys(req.body ?? {}).filter((name) => !names.includes(name));
    // `curl -F image=digit.png` (no @) sends the file's name as text.
    if (unknown.includes('image') && req.file === undefined) {
      throw new HttpError(400, 'missing_image', 'field "image" came as text, not as a file; send the file itself (curl: -F image=@digit.png, with the @)');
    }
    if (unknown.length > 0) {
      throw new HttpError(400, 'unexpected_field', `unexpected field(s): ${unknown.join(', ')}; ${expectedForm(textFields)}`);
    }
    if (req.file === undefined) {
      throw new HttpError(400, 'missing_image', 'send the image as a multipart/form-data file field named "image"');
    }
    next();
  };
  return [parseOrReject, check];
}
