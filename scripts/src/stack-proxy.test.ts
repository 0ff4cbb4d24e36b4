import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { PROXY_TEMPLATE, stackProxyConfig } from './stack-proxy.js';

/** The directives of a config, one per line, without comments or blank lines. */
const directives = (config: string) =>
  config
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));

describe("the stack's proxy config", () => {
  test("when made from compose's, then it listens on loopback and sends to the two container ports, with everything else the same", async () => {
    const template = await readFile(PROXY_TEMPLATE, 'utf8');
    const config = stackProxyConfig(template, { listen: 5050, backends: [5051, 5052] });
    const lines = directives(config);
    assert.ok(lines.includes('listen 127.0.0.1:5050;'));
    assert.deepEqual(
      lines.filter((line) => line.startsWith('server 127.0.0.1:')),
      ['server 127.0.0.1:5051 max_fails=1 fail_timeout=1s;', 'server 127.0.0.1:5052 max_fails=1 fail_timeout=1s;'],
    );
    assert.ok(lines.includes('zone webapp 64k;'), 'the workers share which port is skipped');
    assert.equal(lines.filter((line) => line === 'proxy_pass http://webapp;').length, 2);
    assert.ok(!/resolver|\$webapp_upstream|listen 5050;/.test(config), 'nothing of the alias is left');
    assert.ok(!lines.some((line) => line.startsWith('user ')), 'no user directive: the image default runs the workers');
    // Everything else is compose's, directive for directive.
    const changed = /^(resolver|resolver_timeout|set \$webapp_upstream|proxy_pass|listen|upstream|zone|server 127|\})/;
    assert.deepEqual(
      lines.filter((line) => !changed.test(line)),
      directives(template).filter((line) => !changed.test(line)),
    );
    for (const kept of ['proxy_next_upstream error timeout;', 'proxy_next_upstream error timeout non_idempotent;', 'client_max_body_size 8m;', 'location = /proxy-health {', 'error_page 502 504 = @unavailable;']) {
      assert.ok(lines.includes(kept), kept);
    }
  });

  test("when compose's config no longer has a line the stack's replaces, then making it fails and says where to look", () => {
    const template = 'http {\n    server {\n        listen 5050;\n    }\n}\n';
    assert.throws(() => stackProxyConfig(template, { listen: 5050, backends: [5051, 5052] }), /deploy\/proxy\/nginx\.conf has 0 lines matching .*resolver.*scripts\/src\/stack-proxy\.ts/);
  });
});
