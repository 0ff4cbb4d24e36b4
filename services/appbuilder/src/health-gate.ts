import { PROBE_HEADER } from '@mlpl/shared';

/** A deployment that could not be carried out; the previous version keeps serving. */
export class DeployError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployError';
  }
}

export type GateOptions = {
  /** Where the webapp answers, without a trailing slash. */
  url: string;
  /** A PNG of a digit the webapp must predict. */
  probeImage: Buffer;
  /** The model version the answer must carry; null accepts any. */
  version: string | null;
  timeoutMs: number;
  /** Says why waiting is pointless (the container stopped), or undefined to keep waiting. */
  gone?: () => Promise<string | undefined>;
  /** The webapps' PROBE_TOKEN: sent as `x-mlpl-probe`, so the probe is not recorded; without it, it is. */
  probeToken?: string | undefined;
};

type ProbeAnswer = { modelVersion?: unknown; probabilities?: unknown };

/**
 * The health gate every deployment passes, whatever it deploys to: `/healthz`, then a real
 * prediction that must come back with the expected version and ten finite probabilities.
 * Retried every 250 ms until `timeoutMs`; rejects with the last answer seen.
 */
export async function passGate(options: GateOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const gone = await options.gone?.();
    if (gone !== undefined) throw new DeployError(gone);
    try {
      const health = await fetch(`${options.url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (health.ok) {
        const form = new FormData();
        form.append('image', new Blob([Uint8Array.from(options.probeImage)], { type: 'image/png' }), 'probe.png');
        const response = await fetch(`${options.url}/api/predict`, { method: 'POST', body: form, headers: options.probeToken === undefined ? {} : { [PROBE_HEADER]: options.probeToken }, signal: AbortSignal.timeout(10_000) });
        const answer = (await response.json().catch(() => ({}))) as ProbeAnswer;
        const probabilities = Array.isArray(answer.probabilities) ? (answer.probabilities as unknown[]) : [];
        if (response.ok && (options.version === null || answer.modelVersion === options.version) && probabilities.length === 10 && probabilities.every((p) => typeof p === 'number' && Number.isFinite(p))) {
          return;
        }
        last = `prediction answered ${response.status} with ${JSON.stringify(answer).slice(0, 200)}`;
      } else {
        last = `/healthz answered ${health.status}`;
      }
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new DeployError(`no healthy answer within ${options.timeoutMs} ms (last: ${last})`);
}
