/** Every place is taken and `maxQueued` tasks wait already: the caller answers 503 and says when to retry. */
export class QueueFullError extends Error {
  constructor(readonly maxQueued: number) {
    super(`${maxQueued} tasks wait already`);
    this.name = 'QueueFullError';
  }
}

/** The caller's signal aborted (its client hung up) before the task's turn: the task never ran. */
export class AbandonedError extends Error {
  constructor() {
    super('abandoned before its turn');
    this.name = 'AbandonedError';
  }
}

type Waiter = { start: () => void };

/**
 * Runs at most `limit` tasks at once; at most `maxQueued` more wait, in arrival order, and any
 * beyond are refused at once (QueueFullError). A waiting task whose signal aborts leaves the
 * queue without running (AbandonedError): work for a client that hung up is not done.
 */
export class Limiter {
  #running = 0;
  readonly #waiting: Waiter[] = [];

  constructor(
    readonly limit: number,
    readonly maxQueued = Number.POSITIVE_INFINITY,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, got ${limit}`);
    if (maxQueued !== Number.POSITIVE_INFINITY && (!Number.isInteger(maxQueued) || maxQueued < 0)) throw new Error(`maxQueued must be a whole number, got ${maxQueued}`);
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /** Tasks waiting for a place. */
  get queued(): number {
    return this.#waiting.length;
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted === true) throw new AbandonedError();
    if (this.#running < this.limit) this.#running++;
    else await this.#wait(signal);
    try {
      return await task();
    } finally {
      // The place goes straight to the next waiter, never freed in between: a task arriving
      // meanwhile cannot take it and make limit + 1 run.
      const next = this.#waiting.shift();
      if (next === undefined) this.#running--;
      else next.start();
    }
  }

  /** Resolves holding a place (handed over by a finishing task). */
  #wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.#waiting.length >= this.maxQueued) return Promise.reject(new QueueFullError(this.maxQueued));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(new AbandonedError());
      };
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }
}
