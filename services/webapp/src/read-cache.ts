/**
 * A few seconds' memory of expensive answers to anonymous reads (the registry's list, a
 * version's training images): a client asking again and again, or many clients at once, cost
 * the database one computation per key per `ttlMs`, not one per request.
 *
 * - Keyed by what the answer depends on (the route's parameters, the version in service).
 * - Concurrent misses share one computation: the pending promise is what is remembered.
 * - A failure is not remembered: the next request tries again.
 * - At most `maxEntries` keys: a client walking through made-up keys evicts the oldest, it
 *   does not grow the memory.
 * - `ttlMs` 0 remembers nothing (each call computes), as medium tests that write records and
 *   read them back at once need.
 */
export class ReadCache<T> {
  private readonly entries = new Map<string, { value: Promise<T>; expiresAt: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: { ttlMs: number; maxEntries: number; now?: () => number }) {
    if (!(options.ttlMs >= 0) || !Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(`a read cache needs ttlMs >= 0 and maxEntries >= 1 (got ${options.ttlMs}, ${options.maxEntries})`);
    }
    this.ttlMs = options.ttlMs;
    this.maxEntries = options.maxEntries;
    this.now = options.now ?? Date.now;
  }

  /** The answer remembered under `key`, or `compute`'s, remembered for ttlMs once it settles. */
  get(key: string, compute: () => Promise<T>): Promise<T> {
    if (this.ttlMs === 0) return compute();
    const found = this.entries.get(key);
    if (found !== undefined && found.expiresAt > this.now()) return found.value;
    this.entries.delete(key);
    // Until it settles the entry does not expire: a slow computation is still shared.
    const entry = { value: (async () => compute())(), expiresAt: Number.POSITIVE_INFINITY };
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    entry.value.then(
      () => {
        entry.expiresAt = this.now() + this.ttlMs;
      },
      () => {
        // Only this very entry: clear() or a later miss may have put another under the key.
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.value;
  }

  /** Forgets everything: after a change made through this process (a rollback), the next read is fresh. */
  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
