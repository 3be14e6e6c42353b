// Migration tests: recorded status responses parse to the typed shape, via the parser and over HTTP.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { fixture, sdk, stubServer } from '../test-support/helpers.mjs'

const loaders = {
  parser: async (name) => sdk.parseReplicationStatus(fixture(name)),
  http: async (name) => {
    const server = await stubServer(async () => [200, fixture(name)])
    try {
      return await new sdk.Client(server.url).getReplicationStatus(server.url)
    } finally {
      await server.close()
    }
  },
}

for (const [how, load] of Object.entries(loaders)) {
  describe(`fixtures via ${how}`, () => {
    it('pre-1.2: stats and replicas are null', async () => {
      const s = await load('pre_1_2.json')
      assert.deepEqual(s, { role: 'master', enabled: true, stats: null, replicas: null })
    })

    it('v1.2.0 master: the spec example verbatim', async () => {
      const s = await load('v1_2_master.json')
      assert.equal(s.role, 'master')
      assert.equal(s.stats.lag_ms, 0)
      assert.equal(s.stats.bytes_sent, 1048576)
      assert.equal(typeof s.stats.bytes_sent, 'number')
      assert.equal(s.stats.last_sync, '2024-10-24T12:00:00Z')
      assert.equal(s.stats.snapshot_size, 524288)
      assert.equal(s.stats.connected_replicas, 2)
      assert.equal(s.stats.epoch, null)
      assert.deepEqual(
        { ...s.replicas[0] },
        {
          id: 'replica-1', host: '192.168.1.10', port: 6381, status: 'Connected', lag_ms: 5,
          last_heartbeat: '2024-10-24T12:00:00Z', operations_synced: 1000, acked_offset: null, bytes_sent: null,
          full_syncs: null, partial_syncs: null, sync_progress: null, link_down_since: null, last_error: null,
        },
      )
    })

    it('v1.2.0 replica: replicas null, link status present', async () => {
      const s = await load('v1_2_replica.json')
      assert.equal(s.role, 'replica')
      assert.equal(s.replicas, null)
      assert.equal(s.stats.role, 'replica')
      assert.equal(s.stats.lag_ms, 12)
      assert.equal(s.stats.bytes_received, 2097152)
      assert.equal(s.stats.operations_pending, 3)
      assert.equal(s.stats.connected_replicas, null)
      assert.equal(s.stats.status, 'Connected')
      assert.equal(s.stats.master, '127.0.0.1:7400')
      assert.deepEqual([s.stats.epoch, s.stats.applied_offset, s.stats.master_offset], [2, 1500, 1503])
    })

    it('unknown fields are ignored', async () => {
      const s = await load('extra_fields.json')
      assert.equal('cluster_id' in s, false)
      assert.equal('compression_ratio' in s.stats, false)
      assert.equal('zone' in s.replicas[0], false)
      assert.equal(s.stats.last_sync, null)
      assert.equal(s.replicas[0].status, 'Lagging')
      assert.equal(s.replicas[0].last_heartbeat, '2024-10-24T12:00:00.250+00:00')
    })

    it('disabled replication', async () => {
      const s = await load('disabled.json')
      assert.deepEqual(s, { role: 'master', enabled: false, stats: null, replicas: null })
    })
  })
}

it('a broken response is a typed error, not a crash', () => {
  assert.throws(() => sdk.parseReplicationStatus('{"role":"master"}'), (e) => {
    assert.ok(e instanceof Error)
    assert.equal(e.code, 'invalid_response')
    assert.equal(e.status, null)
    assert.equal(e.kind, 'Server')
    return true
  })
})

it('replica lists parse', () => {
  assert.deepEqual(sdk.parseReplicaList('{"replicas":[],"x":1}'), [])
})
