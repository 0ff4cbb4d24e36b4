import { BACKGROUND, select } from './pool.js';
import type { Pool, PoolConnection } from './pool.js';

/**
 * MySQL named locks (GET_LOCK), held by a connection: a process that dies, or loses its
 * connection, frees them. Their statements wait as long as the server needs (BACKGROUND):
 * the waits are GET_LOCK's own.
 */

/**
 * Named locks are the server's, not a database's: two pipelines sharing one MySQL server (or
 * two test files sharing one MariaDB) would block each other. So the name used is `name`,
 * '@' and the SHA-1 of the connection's database (of '' if none is selected), 41 characters
 * after `name`: names stay within MySQL's 64 while `name` is at most 23 (checked below).
 */
const SCOPED = "CONCAT(?, '@', SHA1(COALESCE(DATABASE(), '')))";
const MAX_NAME = 64 - 41;

function checkName(name: string): void {
  if (name.length > MAX_NAME) throw new Error(`lock name ${name} is longer than ${MAX_NAME} characters: MySQL refuses names over 64 with its scope`);
}

/** Takes `name` (in this database) for `connection`, waiting up to `waitSeconds`; whether it got it. */
export async function takeLock(connection: PoolConnection, name: string, waitSeconds: number): Promise<boolean> {
  checkName(name);
  const [row] = await select(connection, BACKGROUND, `SELECT GET_LOCK(${SCOPED}, ?) AS got`, [name, waitSeconds]);
  return row?.got === 1;
}

export async function releaseLock(connection: PoolConnection, name: string): Promise<void> {
  checkName(name);
  await select(connection, BACKGROUND, `SELECT RELEASE_LOCK(${SCOPED})`, [name]);
}

/** Name of the database lock that keeps training cycles from overlapping, across replicas too. */
export const TRAINING_LOCK = 'mlpl_training_cycle';

export type HeldLock = {
  /** Whether this connection still holds the lock: false once the connection was lost, and another may hold it. */
  held(): Promise<boolean>;
  release(): Promise<void>;
};

/**
 * Takes the training lock without waiting, on a connection of its own (the lock lives as
 * long as it). Returns null when another cycle holds it.
 */
export async function tryTrainingLock(pool: Pool): Promise<HeldLock | null> {
  const connection = await pool.getConnection();
  try {
    if (!(await takeLock(connection, TRAINING_LOCK, 0))) {
      connection.release();
      return null;
    }
  } catch (error) {
    connection.destroy();
    throw error;
  }
  return {
    async held() {
      try {
        const [row] = await select(connection, BACKGROUND, `SELECT IS_USED_LOCK(${SCOPED}) = CONNECTION_ID() AS mine`, [TRAINING_LOCK]);
        return row?.mine === 1;
      } catch {
        return false;
      }
    },
    async release() {
      try {
        await releaseLock(connection, TRAINING_LOCK);
        connection.release();
      } catch {
        // A connection that cannot release the lock is closed, which releases it too.
        connection.destroy();
      }
    },
  };
}
