/**
 * What this broker knows of replication, for the metrics, the panel and
 * `skiff cluster status`: counters of the events (elections won, in-sync set
 * shrinks and expands), and per partition it holds a copy of, its role, the
 * high watermark and, where it leads, how far each follower is behind.
 *
 * The replication code (leader side: the REPL_FETCH handler and the in-sync
 * set keeper; follower side: the fetcher; elections) writes here on the
 * gateway thread; readers only read. Entries are replaced, never merged, so a
 * reader sees one consistent snapshot of a partition.
 */

/** One follower of a partition led here, as the leader sees it. */
export interface FollowerLag {
  broker: number
  /** Records the follower's last fetch was behind the leader's end. */
  records: number
  /** Time since the follower was last caught up with the leader's end (0 when it is now). */
  ms: number
  inSync: boolean
}

/** A partition this broker holds a copy of. */
export interface ReplicaState {
  topic: string
  partition: number
  role: 'leader' | 'follower'
  leaderEpoch: number
  /** High watermark: offsets below it are confirmed (fsynced on every in-sync replica). */
  hw: number
  /** This copy's end offset. */
  endOffset: number
  /** Leader only: each follower. */
  followers: FollowerLag[]
}

export class ReplicationStats {
  /** Elections this broker won (it became the leader of a partition in a new epoch). */
  elections = 0
  /** In-sync set changes this broker wrote as leader. */
  isrShrinks = 0
  isrExpands = 0
  /** Partitions whose leadership this broker handed over before it stopped (SIGTERM). */
  handovers = 0
  /** Partition moves this broker finished as their leader (partition-moves.ts). */
  moves = 0
  /** By `<topic>/<partition>`. */
  readonly replicas = new Map<string, ReplicaState>()

  set(state: ReplicaState): void {
    this.replicas.set(`${state.topic}/${state.partition}`, state)
  }

  drop(topic: string, partition: number): void {
    this.replicas.delete(`${topic}/${partition}`)
  }
}
