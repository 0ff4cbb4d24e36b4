/**
 * What a multipart route answers when its body is not the form it takes. Multer's own messages
 * ("Unexpected file field", "File too large") say what is wrong, not what to send instead;
 * these say both, in the words of the route's form. Multer's errors are read by structure
 * (`name`, `code`, `field`), so this package needs no multer.
 */
import { HttpError } from './http-error.js';
import { formatBytes } from './preprocess.js';

/** The most bytes one file field takes, and the setting that says so. */
export type FileLimit = { maxBytes: number; setting: string };

/** A multipart route's form, as its error messages describe it. */
export type MultipartForm = {
  /** What one file is called in messages: "image", "file". */
  noun: string;
  /** The file fields, each with its limit. */
  files: Readonly<Record<string, FileLimit>>;
  /** The text fields, each with what it holds. */
  fields: Readonly<Record<string, string>>;
  /** The code of a file over its limit, and what to do instead. */
  tooLarge: { code: string; advice: string };
  /** curl's arguments that send the files, for the mistakes curl makes easy: `-F image=@digit.png`. */
  curl: string;
};

/**
 * Multer's limits on field names and text values, bytes: ample for "predictionId" and a UUID.
 * Spread into multer's `limits`, so the messages below name the numbers multer enforces.
 */
export const MULTIPART_FIELD_LIMITS = { fieldNameSize: 64, fieldSize: 256 } as const;

const quoted = (names: readonly string[]) => names.map((name) => JSON.stringify(name)).join(', ');

/** What to send instead: the end of every message about the form's shape. */
export function expectedForm(form: MultipartForm): string {
  const files = Object.keys(form.files);
  const text = Object.entries(form.fields).map(([name, holds]) => `"${name}" (${holds})`);
  const sendFiles = files.length === 1 ? `one file field ${quoted(files)}` : `the file fields ${quoted(files)}`;
  return `send ${sendFiles}${text.length === 0 ? ' and nothing else' : ` and the text fields ${text.join(', ')}`}`;
}

type MulterErrorLike = Error & { code: string; field?: string };

function isMulterError(error: unknown): error is MulterErrorLike {
  return error instanceof Error && error.name === 'MulterError' && typeof (error as Partial<MulterErrorLike>).code === 'string';
}

/** The answer to one of multer's errors (any other error of the parser is a malformed body). */
export function multipartError(error: unknown, form: MultipartForm): HttpError {
  if (!isMulterError(error)) return new HttpError(400, 'bad_multipart', `malformed multipart body: ${(error as Error).message}`);
  const files = Object.keys(form.files);
  const one = files.length === 1;
  const field = JSON.stringify(error.field ?? '');
  const limit = error.field === undefined ? undefined : form.files[error.field];
  const expected = expectedForm(form);
  if (error.code === 'LIMIT_FILE_SIZE' && limit !== undefined) {
    const which = one ? `the ${form.noun}` : `the ${form.noun} in field ${field}`;
    return new HttpError(413, form.tooLarge.code, `${which} is larger than the limit of ${formatBytes(limit.maxBytes)} (${limit.setting}); ${form.tooLarge.advice}`);
  }
  switch (error.code) {
    // Over a limit in a field the form does not take: that the file came at all is the mistake.
    case 'LIMIT_FILE_SIZE':
    case 'LIMIT_UNEXPECTED_FILE': {
      const send = one ? `the ${form.noun} as the multipart file field` : `the ${form.noun}s as the multipart file fields`;
      return new HttpError(400, 'unexpected_field', `a file came in field ${field}; send ${send} ${quoted(files)} (curl: ${form.curl})`);
    }
    case 'LIMIT_FILE_COUNT':
      return new HttpError(400, 'too_many_files', one ? `send one ${form.noun} per request` : `too many files, one per field; ${expected}`);
    case 'LIMIT_FIELD_COUNT':
      return new HttpError(400, 'too_many_fields', `too many fields; ${expected}`);
    case 'LIMIT_PART_COUNT':
      return new HttpError(400, 'too_many_parts', `too many parts in the multipart body; ${expected}`);
    case 'LIMIT_FIELD_KEY':
      return new HttpError(400, 'field_name_too_long', `a field name is longer than ${MULTIPART_FIELD_LIMITS.fieldNameSize} bytes; ${expected}`);
    case 'LIMIT_FIELD_VALUE':
      return new HttpError(400, 'field_too_long', `field ${field} is longer than ${MULTIPART_FIELD_LIMITS.fieldSize} bytes; ${expected}`);
    case 'MISSING_FIELD_NAME':
      return new HttpError(400, 'missing_field_name', `a part of the multipart body has no field name; ${expected}`);
    default:
      return new HttpError(400, 'bad_multipart', `${error.message}; ${expected}`);
  }
}

type Parse<Req, Res> = (req: Req, res: Res, done: (error?: unknown) => void) => void;

/**
 * Wraps a multer middleware (`multer(...).single('image')`) so that each of its errors reaches
 * the error middleware as the answer `multipartError` gives. Busboy reports a malformed body
 * (no boundary, cut short) as a plain Error: still the client's fault, so a 400.
 */
export function parseMultipart<Req, Res>(parse: Parse<Req, Res>, form: MultipartForm): Parse<Req, Res> {
  return (req, res, next) => {
    parse(req, res, (error) => {
      if (error === undefined || error === null) next();
      else next(multipartError(error, form));
    });
  };
}
