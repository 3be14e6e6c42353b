// Must NOT compile under --strict: `stats` and `replicas` are nullable and are used unchecked.
import type { ReplicationStatus } from '../../index'

export function lag(status: ReplicationStatus): number {
  return status.stats.lag_ms + status.replicas.length
}
