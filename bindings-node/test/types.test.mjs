// The generated types declare the spec's nullable fields as present-and-nullable, and tsc --strict
// rejects code that uses them without a null check.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { it } from 'node:test'

import { REPO } from '../test-support/helpers.mjs'

const types = readFileSync(join(REPO, 'bindings-node', 'types.d.ts'), 'utf8')

it('spec fields are present and nullable (not optional)', () => {
  assert.match(types, /\n\tstats: ReplicationStats \| null;/)
  assert.match(types, /\n\treplicas: ReplicaInfo\[\] \| null;/)
  assert.match(types, /\n\tlast_sync: string \| null;/)
  assert.match(types, /\n\tconnected_replicas: number \| null;/)
  assert.match(types, /export type ReplicaStatus =\n\t\| "Connected"\n\t\| "Syncing"\n\t\| "Lagging"\n\t\| "Disconnected";/)
})

it('tsc --strict rejects unchecked use of stats and replicas', () => {
  const tsc = join(REPO, 'bindings-node', 'node_modules', 'typescript', 'bin', 'tsc')
  const file = join(REPO, 'bindings-node', 'test-support', 'unsafe', 'consumer-unsafe.ts')
  const run = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--types', 'node', file], { encoding: 'utf8' })
  assert.notEqual(run.status, 0, 'unchecked nullable use must not compile')
  assert.match(run.stdout, /'status\.stats' is possibly 'null'/)
  assert.match(run.stdout, /'status\.replicas' is possibly 'null'/)
})
