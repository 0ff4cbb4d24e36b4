import { isIPv6 } from 'node:net';
import type { Request, RequestHandler } from 'express';
import { HttpError } from '@mlpl/shared';

/** Clients remembered at most: past this, the one unseen longest is forgotten (its bucket starts full again). */
const MAX_CLIENTS = 100_000;
const MINUTE_MS = 60_000;

type Bucket = { tokens: number; at: number };

/**
 * A token bucket per client: each holds up to `perMinute` requests and refills at `perMinute`
 * a minute, continuously. A client may so send a minute's worth at once, then keeps to the rate.
 *
 * Buckets are kept in the order they were last used; one unused for a minute is full again,
 * the same as a new one, and is forgotten. Memory so holds the clients of the last minute, and
 * at most MAX_CLIENTS of them.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #perMs: number;

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isInteger(perMinute) || perMinute < 1) throw new Error(`perMinute must be a positive integer, got ${perMinute}`);
    this.#perMs = perMinute / MINUTE_MS;
  }

  /** Clients remembered now. */
  get clients(): number {
    return this.#buckets.size;
  }

  /** Takes one request from `client`'s bucket: 0 when it may go ahead, else the whole seconds until it may. */
  take(client: string): number {
    const now = this.now();
    this.#forgetIdle(now);
    const bucket = this.#buckets.get(client);
    const tokens = bucket === undefined ? this.perMinute : Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * this.#perMs);
    // Deleted and set again: the map's order stays that of last use.
    this.#buckets.delete(client);
    if (this.#buckets.size >= MAX_CLIENTS) this.#buckets.delete(this.#buckets.keys().next().value as string);
    if (tokens >= 1) {
      this.#buckets.set(client, { tokens: tokens - 1, at: now });
      return 0;
    }
    this.#buckets.set(client, { tokens, at: now });
    return Math.max(1, Math.ceil((1 - tokens) / this.#perMs / 1000));
  }

  #forgetIdle(now: number): void {
    for (const [client, bucket] of this.#buckets) {
      if (now - bucket.at < MINUTE_MS) return;
      this.#buckets.delete(client);
    }
  }
}

/** The eight 16-bit groups of an IPv6 address, as numbers (an embedded IPv4 tail as two). */
function ipv6Groups(address: string): number[] {
  const [head = '', tail] = address.split('::');
  const parse = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const first = parse(head);
  const last = tail === undefined ? [] : parse(tail);
  return [...first, ...Array<number>(8 - first.length - last.length).fill(0), ...last];
}

/**
 * Whose bucket a request draws from: its IPv4 address, or the /64 network of its IPv6 address,
 * since one IPv6 host commonly holds a whole /64 and could otherwise take a new address for
 * each request. IPv4 written as IPv6 (`::ffff:a.b.c.d`, a dual-stack socket) is the IPv4 address.
 */
export function clientKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (!isIPv6(address)) return address;
  return `${ipv6Groups(address.split('%')[0] ?? address).slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/**
 * Refuses a request whose client (req.ip: see TRUST_PROXY) spent its bucket with 429, Retry-After
 * and the usual error body, before its body is read. `exempt` requests (the health gate's
 * probes) are not counted. No limiter: every request goes ahead.
 */
export function rateLimit(limiter: RateLimiter | undefined, what: string, exempt: (req: Request) => boolean = () => false): RequestHandler {
  return (req, res, next) => {
    if (limiter === undefined || exempt(req)) {
      next();
      return;
    }
    const waitSeconds = limiter.take(clientKey(req.ip));
    if (waitSeconds === 0) {
      next();
      return;
    }
    res.setHeader('Retry-After', String(waitSeconds));
    next(new HttpError(429, 'rate_limited', `too many ${what} from your address (at most ${limiter.perMinute} a minute); try again in ${waitSeconds} s`));
  };
}
