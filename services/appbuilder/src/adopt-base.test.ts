import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildImage, createDocker, inspectImage, listRepoTags, removeImage } from './docker.js';
import type { Docker } from './docker.js';
import { adoptBaseImage, LABELS } from './images.js';

/**
 * adoptBaseImage against a real Docker engine, on images with nothing in them but a label
 * (FROM scratch): what is adopted, or refused, is decided by the label alone.
 */
describe('adopting the first webapp image', () => {
  const repo = `mlpl-test-adopt-${randomBytes(3).toString('hex')}/mywebapp`;
  let docker: Docker;
  let dir: string;

  /** Builds `<repo>:latest` labelled as compose's first image is: its version, no base. */
  const firstImageLabelled = async (version: string) => {
    // The one before goes, rather than being left untagged.
    if ((await inspectImage(docker, `${repo}:latest`)) !== undefined) await removeImage(docker, `${repo}:latest`);
    await buildImage(docker, { context: dir, src: ['Dockerfile'], tag: `${repo}:latest`, labels: { [LABELS.version]: version } });
  };
  const tags = async () => (await listRepoTags(docker, repo)).map((tag) => tag.tag).sort();

  before(async () => {
    docker = createDocker('/var/run/docker.sock');
    dir = await mkdtemp(path.join(tmpdir(), 'mlpl-adopt-'));
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nLABEL mlpl.test=adopt\n');
  });
  after(async () => {
    if (docker !== undefined) for (const tag of await tags().catch(() => [])) await removeImage(docker, `${repo}:${tag}`).catch(() => undefined);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('when the image is labelled with a reserved name or no tag, then it is not adopted: no tag, no build, and the rejection says why', async () => {
    for (const [label, why] of [
      ['latest', /labelled mlpl\.model-version="latest", which is no version \("latest" is reserved/],
      ['candidate-1', /begins with the reserved "candidate"/],
      ['../x', /"\.\.\/x", which is no version \(a version must be/],
    ] as const) {
      await firstImageLabelled(label);
      const recorded: string[] = [];
      await assert.rejects(
        adoptBaseImage(docker, repo, async (build) => void recorded.push(build.version), async () => false),
        why,
        label,
      );
      assert.deepEqual(recorded, [], label);
      assert.deepEqual(await tags(), ['latest'], label);
    }
  });

  test('when the image is labelled with a version, then it is tagged <repo>:<version> and recorded', async () => {
    await firstImageLabelled('pretrained-9');
    const recorded: { version: string; image: string }[] = [];
    assert.equal(await adoptBaseImage(docker, repo, async (build) => void recorded.push({ version: build.version, image: build.image }), async () => false), 'pretrained-9');
    assert.deepEqual(recorded, [{ version: 'pretrained-9', image: `${repo}:pretrained-9` }]);
    assert.deepEqual(await tags(), ['latest', 'pretrained-9']);
    assert.equal((await inspectImage(docker, `${repo}:pretrained-9`))?.Id, (await inspectImage(docker, `${repo}:latest`))?.Id);
  });
});
