import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { errorMessage, freePort, sha256Hex, writeAtomically } from './helpers.js';

describe('helpers', () => {
  it('when bytes are hashed, then the answer is SHA-256 in lowercase hex', () => {
    assert.equal(sha256Hex(Buffer.from('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('when something not an Error is thrown, then its message is the thing as text', () => {
    assert.equal(errorMessage(new Error('no route')), 'no route');
    assert.equal(errorMessage('plain'), 'plain');
    assert.equal(errorMessage(42), '42');
  });

  it('when a file is written atomically over another, then it holds the new bytes and nothing else is left', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-helpers-'));
    try {
      const file = path.join(dir, 'x.bin');
      await writeAtomically(file, Buffer.from('first'));
      await writeAtomically(file, Buffer.from('second'));
      assert.equal(await readFile(file, 'utf8'), 'second');
      assert.deepEqual(await readdir(dir), ['x.bin']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('when the folder is missing, then the write fails and leaves no temporary file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlpl-helpers-'));
    try {
      await assert.rejects(writeAtomically(path.join(dir, 'absent', 'x.bin'), Buffer.from('x')), { code: 'ENOENT' });
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('when a free port is asked for, then a server can listen on it', async () => {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => server.close(resolve));
  });
});
