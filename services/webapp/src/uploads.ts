import type { RequestHandler } from 'express';
import multer from 'multer';
import { HttpError } from './errors.js';

/**
 * Multipart parsing held in memory: uploads are small (MAX_UPLOAD_BYTES) and are hashed,
 * checked and stored from the buffer, so no temporary file can be left behind.
 */
export function imageUpload(maxBytes: number, textFields: readonly string[]): RequestHandler[] {
  const parse = multer({
    storage: multer.memoryStorage(),
    limits: {
      fileSize: maxBytes,
      files: 1,
      // A little room over the expected fields, so a stray one is named below rather than
      // reported as a bare count by multer.
      fields: textFields.length + 2,
      fieldNameSize: 64,
      fieldSize: 256,
      parts: textFields.length + 3,
    },
  }).single('image');
  // Anything the multipart parser throws besides its own limit errors is a malformed body
  // (busboy: "Unexpected end of form", "Malformed part header", …).
  const parseOrReject: RequestHandler = (req, res, next) => {
    parse(req, res, (error?: unknown) => {
      if (error === undefined || error instanceof multer.MulterError) return next(error);
      next(new HttpError(400, 'bad_multipart', `malformed multipart body: ${(error as Error).message}`));
    });
  };
  const check: RequestHandler = (req, _res, next) => {
    const unknown = Object.keys(req.body ?? {}).filter((name) => !textFields.includes(name));
    if (unknown.length > 0) {
      throw new HttpError(400, 'unexpected_field', `unexpected field(s): ${unknown.join(', ')}; expected image${textFields.map((f) => `, ${f}`).join('')}`);
    }
    if (req.file === undefined) {
      throw new HttpError(400, 'missing_image', 'send the image as a multipart/form-data file field named "image"');
    }
    next();
  };
  return [parseOrReject, check];
}
