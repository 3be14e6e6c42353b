// Cluster mode: write options ({ w, timeoutMs }), the NoQuorum kind, getCluster, newer stats fields.
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'

import { fixture, sdk, startVectorizer, stubServer } from '../test-support/helpers.mjs'

const WRITE_OK = '{"offset":9,"affected":1}'
const NO_QUORUM = JSON.stringify({ error: { code: 'no_quorum', message: 'this master holds no valid lease' } })
const CLUSTER_VIEW = {
  node_id: 2, failover: 'auto', controller_role: 'leader', term: 4, leader_id: 2, epoch: 3, master_id: 2,
  fenced: false, writes_allowed: true,
  members: [
    { id: 1, http: '127.0.0.1:15001', repl: '127.0.0.1:16001', raft: '127.0.0.1:17001', priority: 1, role: 'replica',
      controller_leader: false, health: 'unreachable', epoch: 2, applied_offset: 120, last_seen_ms_ago: 10400 },
    { id: 3, http: '127.0.0.1:15003', repl: '127.0.0.1:16003', raft: '127.0.0.1:17003', priority: 0, role: 'master',
      controller_leader: true, health: 'unknown', epoch: null, applied_offset: null, last_seen_ms_ago: null,
      from_a_future_server: true },
  ],
  last_failover: { at: '2026-11-27T08:00:00Z', reason: 'master 1 renewed no lease for 10000 ms', old_master: 1,
    new_master: 2, epoch: 3, new_master_applied_offset: 118, ops_discarded: null },
}

const servers = []
let live = null
before(async () => { live = await startVectorizer() })
after(async () => {
  for (const s of servers) await s.close()
  if (live !== null) await live.stop()
})

async function master(write = [200, WRITE_OK]) {
  const server = await stubServer(async (req) =>
    req.url === '/api/v1/replication/status' ? [200, fixture('v1_2_master.json')]
      : req.url === '/api/v1/cluster' ? [200, JSON.stringify(CLUSTER_VIEW)] : write)
  servers.push(server)
  return server
}

const writes = (server) => server.seen.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.url}`)

it('write options become query parameters on every write', async () => {
  const server = await master()
  const client = new sdk.Client(server.url)
  await client.createCollection({ name: 'c', dimension: 2 }, { w: 'majority', timeoutMs: 1500 })
  await client.upsert('c', [{ id: 'p', vector: [1, 0] }], { w: 'all' })
  await client.delete('c', ['p'], { w: 1, timeoutMs: 7 })
  await client.deleteCollection('c', { w: '1' })
  await client.upsert('c', [{ id: 'p', vector: [1, 0] }])
  await client.upsert('c', [{ id: 'p', vector: [1, 0] }], {})
  assert.deepEqual(writes(server), [
    'POST /api/v1/collections?w=majority&timeout_ms=1500',
    'PUT /api/v1/collections/c/vectors?w=all',
    'POST /api/v1/collections/c/vectors/delete?w=1&timeout_ms=7',
    'DELETE /api/v1/collections/c?w=1',
    'PUT /api/v1/collections/c/vectors',
    'PUT /api/v1/collections/c/vectors',
  ])
})

for (const [options, argument] of [
  [{ w: 2 }, 'w'], [{ w: 'two' }, 'w'], [{ w: 'MAJORITY' }, 'w'],
  [{ timeoutMs: 0 }, 'timeout_ms'], [{ timeoutMs: -1 }, 'timeout_ms'], [{ timeoutMs: 300_001 }, 'timeout_ms'],
  [{ timeoutMs: 1.5 }, 'timeout_ms'],
]) {
  it(`bad write options ${JSON.stringify(options)} reject before sending`, async () => {
    const server = await master()
    await assert.rejects(new sdk.Client(server.url).upsert('c', [{ id: 'p', vector: [1] }], options), (e) => {
      assert.deepEqual([e.code, e.status, e.kind], ['invalid_argument', null, 'Validation'])
      assert.ok(e.message.startsWith(`invalid argument ${argument}:`), e.message)
      return true
    })
    assert.deepEqual(writes(server), [])
  })
}

it('no_quorum rejects with kind NoQuorum after one attempt', async () => {
  const server = await master([503, NO_QUORUM])
  await assert.rejects(new sdk.Client(server.url).upsert('c', [{ id: 'p', vector: [1] }], { w: 'majority' }), (e) => {
    assert.deepEqual([e.code, e.status, e.kind], ['no_quorum', 503, 'NoQuorum'])
    return true
  })
  assert.equal(writes(server).length, 1)
})

it('getCluster returns the view with nulls and without unknown fields', async () => {
  const server = await master()
  const view = await new sdk.Client(server.url).getCluster()
  const expected = structuredClone(CLUSTER_VIEW)
  delete expected.members[1].from_a_future_server
  assert.deepEqual(view, expected)
})

it('ops_discarded_on_rejoin is null from older servers and kept from newer ones', () => {
  const old = sdk.parseReplicationStatus(fixture('v1_2_replica.json'))
  assert.equal(old.stats.ops_discarded_on_rejoin, null)
  const newer = JSON.parse(fixture('v1_2_replica.json'))
  newer.stats.ops_discarded_on_rejoin = 4
  assert.equal(sdk.parseReplicationStatus(JSON.stringify(newer)).stats.ops_discarded_on_rejoin, 4)
})

it('live: majority and all on a single node, getCluster outside cluster mode', async (t) => {
  if (live === null) return t.skip('VECTORIZER_BIN is not set')
  const client = new sdk.Client(live.url)
  // A single node without replication is the only voter: majority and all are reached at once.
  await client.createCollection({ name: 'wc', dimension: 2 }, { w: 'majority', timeoutMs: 5000 })
  assert.equal((await client.upsert('wc', [{ id: 'p', vector: [1, 0] }], { w: 'all' })).affected, 1)
  assert.equal((await client.get('wc', 'p')).id, 'p')
  assert.equal((await client.delete('wc', ['p'], { w: 'all', timeoutMs: 1 })).affected, 1)
  await client.deleteCollection('wc', { w: 1 })
  await assert.rejects(client.getCluster(), (e) => {
    assert.deepEqual([e.code, e.status, e.kind], ['replication_conflict', 409, 'Conflict'])
    return true
  })
})
