// Errors are `Error`s with `code`, `status` and `kind`; routing and argument checks.
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, it } from 'node:test'

import { fixture, sdk, stubServer } from '../test-support/helpers.mjs'

const servers = []
after(async () => { for (const s of servers) await s.close() })

async function node(status, body) {
  const server = await stubServer(async (req) =>
    req.url === '/api/v1/replication/status' ? [200, fixture('disabled.json')] : [status, body])
  servers.push(server)
  return server
}

const error = (code, extra = {}) => JSON.stringify({ error: { code, message: 'details here', ...extra } })

const cases = [
  [404, 'collection_not_found', 'NotFound'],
  [409, 'collection_exists', 'Conflict'],
  [400, 'dimension_mismatch', 'Validation'],
  [503, 'unavailable', 'Server'],
  [503, 'no_quorum', 'NoQuorum'],
  [504, 'write_concern_timeout', 'Timeout'],
  [418, 'from_a_future_server', 'Validation'],
]

for (const [status, code, kind] of cases) {
  it(`${status} ${code} rejects with code, status and kind`, async () => {
    const server = await node(status, error(code))
    await assert.rejects(new sdk.Client(server.url).getCollection('c'), (e) => {
      assert.ok(e instanceof Error)
      assert.deepEqual([e.code, e.status, e.kind], [code, status, kind])
      assert.match(e.message, /details here/)
      return true
    })
  })
}

it('read_only_replica is retried once, then surfaces with the master hint', async () => {
  const server = await node(409, error('read_only_replica', { master: '10.9.9.9:1' }))
  await assert.rejects(new sdk.Client(server.url).upsert('c', [{ id: 'a', vector: [1] }]), (e) => {
    assert.deepEqual([e.code, e.status, e.kind, e.master], ['read_only_replica', 409, 'ReadOnlyReplica', '10.9.9.9:1'])
    return true
  })
  assert.equal(server.seen.filter((r) => r.method === 'PUT').length, 2)
})

it('writes go to the master, reads follow readPreference', async () => {
  const replica = await stubServer(async (req) =>
    req.url === '/api/v1/replication/status' ? [200, fixture('v1_2_replica.json')]
      : req.url.endsWith('/search') ? [200, '{"results":[]}'] : [409, error('read_only_replica')])
  const master = await stubServer(async (req) =>
    req.url === '/api/v1/replication/status' ? [200, fixture('v1_2_master.json')]
      : req.url.endsWith('/search') ? [200, '{"results":[]}'] : [200, '{"offset":1,"affected":1}'])
  servers.push(replica, master)
  const client = new sdk.Client([replica.url, master.url], { readPreference: 'prefer_replica', timeoutMs: 5000 })
  assert.equal(await client.masterEndpoint(), master.url)
  assert.deepEqual(await client.upsert('c', [{ id: 'a/b', vector: [1, 2], payload: { k: [1, null] } }]), { offset: 1, affected: 1 })
  assert.deepEqual(await client.search('c', { vector: [1, 2] }), [])
  const put = master.seen.find((r) => r.method === 'PUT')
  assert.deepEqual(JSON.parse(put.body), { vectors: [{ id: 'a/b', vector: [1, 2], payload: { k: [1, null] } }] })
  assert.equal(JSON.parse(replica.seen.find((r) => r.url.endsWith('/search')).body).limit, 10)
  assert.equal(replica.seen.some((r) => r.method === 'PUT'), false)
})

it('unreachable endpoints reject with connection codes', async () => {
  const dead = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const port = s.address().port; s.close(() => resolve(`http://127.0.0.1:${port}`)) })
  })
  const client = new sdk.Client(dead, { timeoutMs: 2000 })
  await assert.rejects(client.health(dead), (e) => e.code === 'connection_failed' && e.status === null && e.kind === 'Connection')
  await assert.rejects(client.listCollections(), (e) => e.code === 'no_master' && e.kind === 'Connection')
})

it('a hung server rejects with a timeout', async () => {
  let release
  const hang = new Promise((resolve) => { release = resolve })
  const server = await stubServer(async () => { await hang; return [200, '{}'] })
  servers.push(server)
  try {
    await assert.rejects(new sdk.Client(server.url, { timeoutMs: 300 }).health(server.url), (e) => e.code === 'timeout' && e.kind === 'Timeout')
  } finally {
    release()
  }
})

it('bad arguments throw or reject with invalid_* codes', async () => {
  assert.throws(() => new sdk.Client('ftp://x'), (e) => e instanceof Error && e.code === 'invalid_endpoint' && e.kind === 'Validation')
  assert.throws(() => new sdk.Client([]), (e) => e.code === 'no_endpoints')
  assert.throws(() => new sdk.Client('http://h:1', { readPreference: 'nearest' }), (e) => e.code === 'invalid_argument')
  const client = new sdk.Client('http://127.0.0.1:9')
  await assert.rejects(client.createCollection({ name: 'c', dimension: 3, metric: 'manhattan' }), (e) => e.code === 'invalid_argument')
  await assert.rejects(client.upsert('c', [{ id: 'a' }]), (e) => e.code === 'invalid_argument' && /vector/.test(e.message))
})
