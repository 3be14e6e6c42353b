// Live tests against a real `vectorizer` process (VECTORIZER_BIN; skipped when unset).
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, it } from 'node:test'

import { REPO, require, sdk, startVectorizer } from '../test-support/helpers.mjs'

let node = null
before(async () => { node = await startVectorizer() })
after(async () => { if (node !== null) await node.stop() })

it('create, upsert, get, search, status and typed errors', async (t) => {
  if (node === null) return t.skip('VECTORIZER_BIN is not set')
  const client = new sdk.Client(node.url)
  assert.equal((await client.health()).status, 'ok')
  await client.createCollection({ name: 'live', dimension: 3 })
  await assert.rejects(client.createCollection({ name: 'live', dimension: 3 }), (e) => e.code === 'collection_exists' && e.status === 409 && e.kind === 'Conflict')
  const write = await client.upsert('live', [{ id: 'a/1', vector: [1, 0, 0], payload: { k: 1 } }, { id: 'b', vector: [0, 1, 0] }])
  assert.equal(write.affected, 2)
  assert.deepEqual((await client.get('live', 'a/1')).payload, { k: 1 })
  const hits = await client.search('live', { vector: [1, 0.1, 0], limit: 2, with_payload: true })
  assert.deepEqual(hits.map((h) => h.id), ['a/1', 'b'])
  assert.equal(hits[1].payload, null)
  await assert.rejects(client.search('live', { vector: [1, 0] }), (e) => e.code === 'dimension_mismatch' && e.status === 400)
  await assert.rejects(client.get('live', 'nope'), (e) => e.code === 'point_not_found' && e.kind === 'NotFound')
  const status = await client.getReplicationStatus()
  assert.equal(status.role, 'master')
  assert.ok('stats' in status && 'replicas' in status)
})

it('vectorEncoding base64 round-trips exact float32 values', async (t) => {
  if (node === null) return t.skip('VECTORIZER_BIN is not set')
  const client = new sdk.Client(node.url, { vectorEncoding: 'base64' })
  await client.createCollection({ name: 'b64', dimension: 4, metric: 'euclidean' })
  // float32-exact values written as f32 then read back as JS numbers: compare the f32 bits.
  // (No -0 here: the binding's JS -> serde_json conversion sends -0 as the integer 0, with either encoding.)
  const a = Array.from(new Float32Array([1 / 3, -2.5, 1.25e-30, 3e38]))
  const b = Array.from(new Float32Array([0.1, 0.2, 0.3, 0.4]))
  const bits = (v) => Array.from(new Uint32Array(new Float32Array(v).buffer))
  const write = await client.upsert('b64', [{ id: 'a', vector: a, payload: { k: 1 } }, { id: 'b', vector: b }])
  assert.equal(write.affected, 2)
  const got = await client.get('b64', 'a')
  assert.deepEqual(bits(got.vector), bits(a))
  assert.deepEqual(got.payload, { k: 1 })
  assert.deepEqual(bits((await client.get('b64', 'b')).vector), bits(b))
  const hits = await client.search('b64', { vector: b, limit: 1, exact: true })
  assert.equal(hits[0].id, 'b')
  assert.equal(hits[0].score, 0)
  assert.equal((await client.getCollection('b64')).vector_count, 2)
  assert.throws(() => new sdk.Client(node.url, { vectorEncoding: 'json' }), (e) => e.code === 'invalid_argument')
})

it('the strict TypeScript consumer runs', async (t) => {
  if (node === null) return t.skip('VECTORIZER_BIN is not set')
  const ts = require('typescript')
  const source = readFileSync(join(REPO, 'bindings-node', 'test', 'consumer.ts'), 'utf8').replace("from '../index'", "from 'vectorizer'")
  const out = join(REPO, 'bindings-node', 'test-support', 'docs-out')
  mkdirSync(out, { recursive: true })
  const file = join(out, 'consumer.mjs')
  writeFileSync(file, ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText)
  const { main } = await import(pathToFileURL(file).href)
  await main(node.url)
})
