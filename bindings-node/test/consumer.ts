// A TypeScript consumer of the package, type-checked with `tsc --strict --noEmit` (npm run typecheck).
// It uses every Client method and must narrow every nullable field before use.
import {
  Client,
  parseReplicationStatus,
  type ClusterView,
  type CollectionInfo,
  type ReplicaInfo,
  type ReplicationStats,
  type ReplicationStatus,
  type ScoredPoint,
  type VectorizerError,
  type WriteOptions,
} from '../index'

function lagOf(status: ReplicationStatus): number | null {
  // `stats` is `ReplicationStats | null`: using it without the check is a compile error.
  const stats: ReplicationStats | null = status.stats
  if (stats === null) return null
  const lastSync: string | null = stats.last_sync
  if (lastSync !== null) new Date(lastSync).toISOString()
  const connected: number | null = stats.connected_replicas
  return stats.lag_ms + (connected ?? 0) * 0
}

function unhealthy(status: ReplicationStatus): string[] {
  const replicas: ReplicaInfo[] | null = status.replicas
  return (replicas ?? []).filter((r) => r.status !== 'Connected').map((r) => `${r.id}@${r.host}:${r.port}`)
}

function isVectorizerError(e: unknown): e is VectorizerError {
  return e instanceof Error && typeof (e as Partial<VectorizerError>).code === 'string'
}

export async function main(url: string): Promise<void> {
  const client = new Client([url], { apiKey: undefined, timeoutMs: 10_000, readPreference: 'master' })
  const endpoints: string[] = client.endpoints
  const master: string = await client.masterEndpoint()
  const health = await client.health()
  await client.health(master)
  await client.createCollection({ name: 'ts', dimension: 2, metric: 'dot', hnsw: { m: 8 } })
  await client.createCollection({ name: 'ts2', dimension: 2 }, { w: 'majority' })
  const durable: WriteOptions = { w: 'all', timeoutMs: 5_000 }
  await client.upsert('ts', [
    { id: 'p1', vector: [1, 0], payload: { tag: 'a' } },
    { id: 'p2', vector: [0, 1] },
  ], durable)
  const info: CollectionInfo = await client.getCollection('ts')
  const all: CollectionInfo[] = await client.listCollections()
  const point = await client.get('ts', 'p1')
  const tag: unknown = point.payload === null ? undefined : point.payload['tag']
  const hits: ScoredPoint[] = await client.search('ts', { vector: [1, 0.1], limit: 2, with_payload: true })
  const firstPayload = hits[0]?.payload ?? null
  await client.delete('ts', ['p2'], { w: 1 })
  await client.deleteCollection('ts2', { timeoutMs: 1_000 })
  const status = await client.getReplicationStatus()
  const role: 'master' | 'replica' = status.role
  const node = await client.getReplicationStatus(url)
  const digest = await client.getDigest()
  const digests: Array<{ name: string; points: number; digest: string }> = digest.collections
  try {
    const replicas: ReplicaInfo[] = await client.listReplicas()
    const snapshot = await client.createSnapshot()
    console.log(replicas.length, snapshot.bytes, snapshot.created_at)
    await client.promote(url)
    await client.replicaOf(url, null)
    await client.replicaOf(url, '127.0.0.1:7400')
    const cluster: ClusterView = await client.getCluster()
    const leader: number | null = cluster.leader_id
    console.log(leader, cluster.members.map((m) => `${m.id}:${m.role}:${m.health}`), cluster.last_failover?.ops_discarded ?? null)
  } catch (e: unknown) {
    if (isVectorizerError(e)) {
      const code: string = e.code
      const httpStatus: number | null = e.status
      const noQuorum: boolean = e.kind === 'NoQuorum'
      console.log(code, httpStatus, e.kind, e.master, noQuorum)
    } else {
      throw e
    }
  }
  const parsed = parseReplicationStatus('{"role":"master","enabled":true,"stats":null,"replicas":null}')
  console.log(endpoints, health.version, info.vector_count, all.length, tag, firstPayload, role, node.enabled,
    lagOf(status), unhealthy(status), lagOf(parsed), digest.applied_offset, digests.length)
}
