import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AppbuilderError, postToAppbuilder } from './appbuilder-client.js';
import { startAppbuilderStub } from './appbuilder-stub.js';
import type { AppbuilderStub } from './appbuilder-stub.js';

const files = {
  modelJson: Buffer.from('{"modelTopology":{}}'),
  weightsBin: Buffer.from([0, 1, 2, 255]),
  metadataJson: Buffer.from('{"version":"v1"}'),
};

describe('postToAppbuilder', () => {
  let stub: AppbuilderStub;
  before(async () => {
    stub = await startAppbuilderStub();
  });
  after(async () => {
    await stub.close();
  });

  test('when the appbuilder accepts, then it received the three files by name with the bearer token', async () => {
    stub.status = 202;
    const answer = await postToAppbuilder(stub.url, 'secret-token', files, { timeoutMs: 5000 });
    assert.deepEqual(answer, { accepted: true });
    const received = stub.received.at(-1);
    assert.equal(received?.authorization, 'Bearer secret-token');
    assert.deepEqual(received?.files, files);
    assert.deepEqual(received?.fileNames, ['model.json', 'weights.bin', 'metadata.json']);
  });

  test('when the appbuilder answers 500, then the error names the status and the body', async () => {
    stub.status = 500;
    await assert.rejects(postToAppbuilder(stub.url, 't', files, { timeoutMs: 5000 }), (error: unknown) => {
      assert.ok(error instanceof AppbuilderError);
      assert.equal(error.status, 500);
      assert.match(error.message, /answered 500/);
      assert.match(error.message, /build_failed/);
      return true;
    });
  });

  test('when the appbuilder is down, then the error says it is unreachable', async () => {
    const down = await startAppbuilderStub();
    await down.close();
    await assert.rejects(postToAppbuilder(down.url, 't', files, { timeoutMs: 5000 }), /unreachable/);
  });
});
