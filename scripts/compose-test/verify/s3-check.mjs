// The minio client against the minio stand-in (used by verify-standins.sh): the operations the
// services use, multipart, presigned URLs, and refusals. Args: PORT write|read; env S3_HOST,
// MLPL_ROOT (repository with node_modules/minio), ROOT_USER, ROOT_SECRET, SVC_KEY, SVC_SECRET.
import { createRequire } from 'module';
const require = createRequire(process.env.MLPL_ROOT + '/package.json');
const Minio = require('minio');
const crypto = require('crypto');
const [,, port = '19000', phase = 'write'] = process.argv;
const mk = (accessKey, secretKey) => new Minio.Client({ endPoint: process.env.S3_HOST || '127.0.0.1', port: +port, useSSL: false, accessKey, secretKey, pathStyle: true });
const c = mk(process.env.SVC_KEY, process.env.SVC_SECRET);
const big = crypto.createHash('sha256').update('seed').digest(); const bigBuf = Buffer.alloc(12 * 1024 * 1024); for (let i = 0; i < bigBuf.length; i += 32) big.copy(bigBuf, i);
const read = async (s) => { const ch = []; for await (const x of s) ch.push(x); return Buffer.concat(ch); };
const ok = (cond, msg) => { console.log((cond ? 'ok   ' : 'FAIL ') + msg); if (!cond) process.exitCode = 1; };
if (phase === 'write') {
  ok(!(await c.bucketExists('images')), 'bucketExists false before');
  await c.makeBucket('images', 'us-east-1');
  ok(await c.bucketExists('images'), 'makeBucket + bucketExists');
  await c.putObject('images', 'digits/7/a b+c.png', Buffer.from('hello png'), 9, { 'Content-Type': 'image/png' });
  const st = await c.statObject('images', 'digits/7/a b+c.png');
  ok(st.size === 9 && st.metaData['content-type'] === 'image/png', `statObject size=${st.size} type=${st.metaData['content-type']}`);
  ok((await read(await c.getObject('images', 'digits/7/a b+c.png'))).toString() === 'hello png', 'getObject');
  await c.putObject('images', 'models/big.bin', bigBuf);
  ok((await read(await c.getObject('images', 'models/big.bin'))).equals(bigBuf), 'put/get 12 MiB (single PUT)');
  const mp = new Minio.Client({ endPoint: process.env.S3_HOST || '127.0.0.1', port: +port, useSSL: false, accessKey: process.env.SVC_KEY, secretKey: process.env.SVC_SECRET, pathStyle: true, partSize: 5 * 1024 * 1024 });
  const { Readable } = require('stream');
  await mp.putObject('images', 'models/multipart.bin', Readable.from([bigBuf]));
  ok((await read(await c.getObject('images', 'models/multipart.bin'))).equals(bigBuf), 'put (multipart, stream) / get 12 MiB');
  await c.putObject('images', 'tmp/delete-me', 'x');
  await c.removeObject('images', 'tmp/delete-me');
  const names = []; for await (const o of c.listObjects('images', '', true)) names.push(o.name);
  ok(JSON.stringify(names.sort()) === JSON.stringify(['digits/7/a b+c.png', 'models/big.bin', 'models/multipart.bin']), 'listObjects recursive + removeObject: ' + names.join(', '));
  const v2 = []; for await (const o of c.listObjectsV2('images', 'digits/', true)) v2.push(o.name);
  ok(v2.join() === 'digits/7/a b+c.png', 'listObjectsV2 recursive, key with space and +: ' + v2.join());
  const pref = []; for await (const o of c.listObjectsV2('images', 'digits/', false)) pref.push(o.name || o.prefix);
  ok(pref.join() === 'digits/7/', 'listObjectsV2 prefix/delimiter: ' + pref.join());
  const url = await c.presignedGetObject('images', 'digits/7/a b+c.png', 60);
  const r = await fetch(url); ok(r.status === 200 && (await r.text()) === 'hello png', 'presignedGetObject + fetch: ' + r.status);
  const bad = await fetch(url.replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000')); ok(bad.status === 403, 'tampered presigned URL refused: ' + bad.status);
  // wrong secret, unknown key, anonymous, no policy
  for (const [name, cl] of [['wrong secret', mk(process.env.SVC_KEY, 'wrong-secret-xx')], ['unknown key', mk('nobody-here', 'whatever-123')]]) {
    try { await cl.statObject('images', 'models/big.bin'); ok(false, name + ' accepted'); } catch (e) { ok(['SignatureDoesNotMatch', 'InvalidAccessKeyId', 'NotFound'].includes(e.code), `${name} refused: ${e.code}`); }
  }
  try { await mk(process.env.SVC_KEY, 'wrong-secret-xx').putObject('images', 'x', 'y'); ok(false, 'put with wrong secret accepted'); } catch (e) { ok(e.code === 'SignatureDoesNotMatch', 'put with wrong secret refused: ' + e.code); }
  const anon = await fetch(`http://${process.env.S3_HOST || '127.0.0.1'}:${port}/images/models/big.bin`); ok(anon.status === 403, 'anonymous GET refused: ' + anon.status);
  const root = mk(process.env.ROOT_USER, process.env.ROOT_SECRET); ok((await root.listBuckets()).map(b => b.name).join() === 'images', 'root listBuckets');
} else {
  ok(await c.bucketExists('images'), 'after restart: bucket exists');
  ok((await read(await c.getObject('images', 'models/multipart.bin'))).equals(bigBuf), 'after restart: object intact, service account works');
  const st = await c.statObject('images', 'digits/7/a b+c.png'); ok(st.metaData['content-type'] === 'image/png', 'after restart: metadata kept');
}
