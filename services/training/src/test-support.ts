import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_FASHION_MNIST_DIR } from './mnist-source.js';

/**
 * Path of one of the Fashion-MNIST IDX files Debian's `dataset-fashion-mnist` installs. The
 * tests on real IDX data need it, and .ci/run installs it, so its absence is a failure with
 * the fix in the message, never a silent skip.
 */
export function requireFashionFile(name: string): string {
  const file = path.join(DEFAULT_FASHION_MNIST_DIR, name);
  if (!existsSync(file)) {
    throw new Error(
      `${file} is missing: the IDX tests read real files from Debian's package dataset-fashion-mnist; ` +
        'install it with `apt-get install -y dataset-fashion-mnist` (.ci/run does so)',
    );
  }
  return file;
}
