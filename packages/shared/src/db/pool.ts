import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { DatabaseSettings } from '../settings.js';

export type { Pool, PoolConnection };

/** Where a statement runs: the pool (a connection is taken for it) or a connection already held. */
export type Db = Pool | PoolConnection;

export function createPool(settings: DatabaseSettings, options: { connectionLimit?: number } = {}): Pool {
  return mysql.createPool({
    host: settings.host,
    port: settings.port,
    user: settings.user,
    password: settings.password,
    database: settings.database,
    connectionLimit: options.connectionLimit ?? 10,
    // Fail fast when the server is gone, so a request turns into a 503 instead of hanging.
    connectTimeout: 3000,
    // Requests wait for a connection in this queue; bounded so a stalled server cannot
    // pile up every request in memory.
    queueLimit: 200,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
}

/**
 * Request-path statements give up after this long: a server that stalls (rather than
 * refusing connections) must still turn into a 503, not a request that hangs.
 */
export const STATEMENT_TIMEOUT_MS = 2000;

/** How long a statement may take; null: as long as the server needs. */
export type Deadline = { readonly timeoutMs: number | null };

/** A statement someone is waiting on: an HTTP answer, a readiness check. */
export const REQUEST_PATH: Deadline = { timeoutMs: STATEMENT_TIMEOUT_MS };

/**
 * Work nobody waits on by the second: migrations, the training cycle, registration, the
 * appbuilder's records of a build. These may take long (a lock wait, 60,000 rows), and a
 * statement cut off half-way through them would leave the record wrong, not just late.
 */
export const BACKGROUND: Deadline = { timeoutMs: null };

/** The rows a SELECT answers. */
export function select(db: Db, deadline: Deadline, sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
  return run<RowDataPacket[]>(db, deadline, sql, values);
}

/** What an INSERT, UPDATE or transaction statement did. */
export function write(db: Db, deadline: Deadline, sql: string, values: unknown[] = []): Promise<ResultSetHeader> {
  return run<ResultSetHeader>(db, deadline, sql, values);
}

/**
 * The one place statements are sent, and given their deadline. The text protocol (`query`)
 * throughout: `IN (?)` lists, a bound LIMIT and multi-row VALUES need it, and the driver
 * still escapes every value from its `?` placeholder.
 *
 * On a timeout mysql2 only stops waiting: the connection stays busy with the statement and
 * would go back to the pool once the server answers, so a stalled server would soon hold
 * every connection. A connection taken here for a statement that timed out is closed
 * instead; one the caller holds is the caller's to close.
 */
async function run<T extends RowDataPacket[] | ResultSetHeader>(db: Db, deadline: Deadline, sql: string, values: unknown[]): Promise<T> {
  const options = deadline.timeoutMs === null ? { sql } : { sql, timeout: deadline.timeoutMs };
  if (deadline.timeoutMs === null || !isPool(db)) {
    const [result] = await db.query<T>(options, values);
    return result;
  }
  const connection = await db.getConnection();
  try {
    const [result] = await connection.query<T>(options, values);
    connection.release();
    return result;
  } catch (error) {
    if (isTimeout(error)) connection.destroy();
    else connection.release();
    throw error;
  }
}

function isPool(db: Db): db is Pool {
  return 'getConnection' in db;
}

function isTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'PROTOCOL_SEQUENCE_TIMEOUT';
}

/**
 * Runs `work` in a transaction on a connection of its own, each statement of it under
 * `deadline`. On any failure the connection is closed, never put back into the pool with the
 * transaction open: the server rolls back what it had. A statement cut off by its deadline
 * is thereby undone too, where an autocommitted one would still run once a stalled server
 * resumed, writing a row the caller was told failed; what remains is the COMMIT's own round trip.
 */
export async function inTransaction<T>(pool: Pool, deadline: Deadline, work: (connection: PoolConnection) => Promise<T>): Promise<T> {
  const connection = await pool.getConnection();
  try {
    await write(connection, deadline, 'START TRANSACTION');
    const result = await work(connection);
    await write(connection, deadline, 'COMMIT');
    connection.release();
    return result;
  } catch (error) {
    connection.destroy();
    throw error;
  }
}

export async function pingDatabase(pool: Pool): Promise<void> {
  await select(pool, REQUEST_PATH, 'SELECT 1');
}
