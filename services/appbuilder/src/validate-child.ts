import { BundleError, initTf } from '@mlpl/shared';
import type { ModelBundleFiles, TfBackendPreference } from '@mlpl/shared';
import { validateBundle } from './validate.js';
import type { ValidationReply } from './validate.js';

/**
 * The process that loads one uploaded bundle (see `createBundleValidator` in validate.ts): it
 * receives the files and the tfjs backend over IPC, answers with the metadata or the refusal,
 * and exits. Started with an address-space limit and a deadline; whatever a bundle makes it
 * allocate dies with it. It stops at once when the appbuilder goes away.
 */
process.once('disconnect', () => process.exit(0));
process.once('message', (message: { files: ModelBundleFiles; backend: TfBackendPreference }) => {
  void (async (): Promise<ValidationReply> => {
    try {
      await initTf(message.backend);
      // Buffers arrive as Uint8Arrays (the advanced serialization's structured clone).
      const buffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const files = { modelJson: buffer(message.files.modelJson), weightsBin: buffer(message.files.weightsBin), metadataJson: buffer(message.files.metadataJson) };
      return { ok: true, metadata: await validateBundle(files) };
    } catch (error) {
      return { ok: false, bundleError: error instanceof BundleError ? error.code : undefined, message: (error as Error).message ?? String(error) };
    }
  })().then((reply) => process.send?.(reply, () => process.exit(0)));
});
