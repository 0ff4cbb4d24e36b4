import type { RowDataPacket } from 'mysql2/promise';

/** Columns as the driver returns them: DATETIME as a Date (`timezone: 'Z'`), integers as numbers. */
export type Row = RowDataPacket;

export function textOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

export function numberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

export function date(value: unknown): Date {
  return value as Date;
}

export function dateOrNull(value: unknown): Date | null {
  return (value as Date | null | undefined) ?? null;
}

/** A LONGTEXT column holding a JSON document (see migration 3); null when empty. */
export function parseJson(value: unknown): unknown {
  return value === null || value === undefined ? null : JSON.parse(String(value));
}

/** The JSON document to store, or NULL for a value that was not given. */
export function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** A duration as its INT UNSIGNED column holds it: whole milliseconds, never negative. */
export function wholeMs(ms: number): number {
  return Math.max(0, Math.round(ms));
}

/** The `n` of a `SELECT COUNT(*) AS n`. */
export function countOf(rows: readonly Row[]): number {
  return Number(rows[0]?.n ?? 0);
}
