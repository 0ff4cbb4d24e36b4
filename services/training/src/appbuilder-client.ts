import { BUNDLE_FILES } from '@mlpl/shared';
import type { ModelBundleFiles } from '@mlpl/shared';

/** A build takes a while (image build, deploy, health check), so the default wait is long. */
export const DEFAULT_APPBUILDER_TIMEOUT_MS = 300_000;

/** Longest stretch of the appbuilder's answer quoted in an error. */
const MAX_QUOTED_BODY = 500;

export class AppbuilderError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = 'AppbuilderError';
  }
}

/**
 * Hands a model bundle to the appbuilder, as DESIGN.md's curl does: one multipart POST with
 * the three files as fields named after them, and the bearer token. Resolves with the JSON
 * answer on 2xx; anything else (status, network error, timeout, a body that is not JSON)
 * rejects with an AppbuilderError naming what happened.
 */
export async function postToAppbuilder(
  url: string,
  token: string,
  files: ModelBundleFiles,
  options: { timeoutMs?: number; fetch?: typeof globalThis.fetch; judgedAgainst?: string | null } = {},
): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_APPBUILDER_TIMEOUT_MS;
  const form = new FormData();
  // Uint8Array.from copies into a plain ArrayBuffer, which is what Blob's type asks for.
  const part = (bytes: Buffer, type: string) => new Blob([Uint8Array.from(bytes)], { type });
  form.append(BUNDLE_FILES.modelJson, part(files.modelJson, 'application/json'), BUNDLE_FILES.modelJson);
  form.append(BUNDLE_FILES.weightsBin, part(files.weightsBin, 'application/octet-stream'), BUNDLE_FILES.weightsBin);
  form.append(BUNDLE_FILES.metadataJson, part(files.metadataJson, 'application/json'), BUNDLE_FILES.metadataJson);

  let response: Response;
  let text: string;
  try {
    response = await (options.fetch ?? globalThis.fetch)(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        // The version the candidate was judged against ('-': none deployed): the appbuilder
        // refuses the release if a rollback put another in service meanwhile.
        ...(options.judgedAgainst === undefined ? {} : { 'x-mlpl-judged-against': options.judgedAgainst ?? '-' }),
      },
      body: form,
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    const what = timedOut ? `no answer within ${timeoutMs} ms` : `${(error as Error).message}${cause}`;
    throw new AppbuilderError(`appbuilder at ${url} unreachable: ${what}`, null);
  }
  if (!response.ok) {
    throw new AppbuilderError(`appbuilder at ${url} answered ${response.status}: ${text.slice(0, MAX_QUOTED_BODY)}`, response.status);
  }
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppbuilderError(
      `appbuilder at ${url} answered ${response.status} with a body that is not JSON: ${text.slice(0, MAX_QUOTED_BODY)}`,
      response.status,
    );
  }
}
