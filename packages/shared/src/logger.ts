import { pino } from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from './settings.js';

export type { Logger };

/** Paths that may carry secrets anywhere in a log line; pino replaces them with "[redacted]". */
const REDACT = [
  'password',
  '*.password',
  'secretKey',
  '*.secretKey',
  'token',
  '*.token',
  'req.headers.authorization',
  'headers.authorization',
];

export function createLogger(options: { name: string; level: LogLevel }): Logger {
  return pino({
    name: options.name,
    level: options.level,
    redact: { paths: REDACT, censor: '[redacted]' },
  });
}
