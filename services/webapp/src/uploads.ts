import type { RequestHandler } from 'express';
import multer from 'multer';
import { expectedForm, HttpError, MULTIPART_FIELD_LIMITS, parseMultipart } from '@mlpl/shared';
import type { MultipartForm } from '@mlpl/shared';

/**
 * Multipart parsing held in memory: uploads are small (MAX_UPLOAD_BYTES) and are hashed,
 * checked and stored from the buffer, so no temporary file can be left behind.
 */
export function imageUpload(maxBytes: number, textFields: MultipartForm['fields']): RequestHandler[] {
  const form: MultipartForm = {
    noun: 'image',
    files: { image: { maxBytes, setting: 'MAX_UPLOAD_BYTES' } },
    fields: textFields,
    tooLarge: { code: 'image_too_large', advice: 'send a smaller file: a digit needs no more than a few hundred pixels a side' },
    curl: '-F image=@digit.png',
  };
  const names = Object.keys(textFields);
  const parse = multer({
    storage: multer.memoryStorage(),
    limits: {
      fileSize: maxBytes,
      files: 1,
      // A little room over the expected fields, so a stray one is named below rather than
      // reported as a bare count by multer.
      fields: names.length + 2,
      parts: names.length + 3,
      ...MULTIPART_FIELD_LIMITS,
    },
  }).single('image');
  const check: RequestHandler = (req, _res, next) => {
    const unknown = Object.keys(req.body ?? {}).filter((name) => !names.includes(name));
    // `curl -F image=digit.png` (no @) sends the file's name as text.
    if (unknown.includes('image') && req.file === undefined) {
      throw new HttpError(400, 'missing_image', 'field "image" came as text, not as a file; send the file itself (curl: -F image=@digit.png, with the @)');
    }
    if (unknown.length > 0) {
      throw new HttpError(400, 'unexpected_field', `unexpected field(s): ${unknown.join(', ')}; ${expectedForm(form)}`);
    }
    if (req.file === undefined) {
      throw new HttpError(400, 'missing_image', 'send the image as a multipart/form-data file field named "image"');
    }
    next();
  };
  return [parseMultipart(parse, form), check];
}
