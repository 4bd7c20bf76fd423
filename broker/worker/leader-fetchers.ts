/**
 * The replica fetchers of one worker: one per leader broker this broker
 * follows partitions of this worker at, each with its own link to that
 * leader. The gateway's replicator works out who leads what from etcd and
 * sends each worker its share ('follow' op, only when it changed); this
 * keeps the fetchers and links to match: a fetcher for a leader no longer
 * followed, or whose address, incarnation, credentials or TLS changed, is
 * closed with its link, and a new one is made.
 *
 * Decision: one connection per (worker, leader broker) pair rather than one
 * per pair of brokers (CLUSTER.md's first data path). A leader serves each
 * of them as it served the one link (a fetch names its partitions, which
 * here are one worker's), and the follower's data goes straight to the
 * thread that writes it. With the default pool of cores - 1 workers, a
 * broker holds a few more sockets per peer.
 */
import type { FetchedPartition } from '../../protocol/index.js'
import { PeerLink, type PeerAddress, type PeerHello, type PeerTls } from '../cluster/peer-link.js'
import type { Results } from '../thread-messages.js'
import { ReplicaFetcher, type FollowerPosition, type Followed } from './replica-fetcher.js'

/** A leader broker and the partitions of this worker followed there. */
export interface FollowedLeader {
  peer: PeerAddress
  hello: PeerHello
  tls?: PeerTls | undefined
  partitions: Followed[]
}

export interface LeaderFetchersOptions {
  append: (topic: string, partition: number, epoch: number, r: FetchedPartition) => Promise<Results['replAppend']>
  report: (position: FollowerPosition) => void
  log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void
}

/** A fetch waits for at most one answer on its link; a few more leave room for nothing else, as nothing else is sent. */
const LINK_IN_FLIGHT = 4

export class LeaderFetchers {
  /** By leader id; `setHello` keeps the credentials the gateway sent last, which the link reads at each connect. */
  private readonly fetchers = new Map<number, { fetcher: ReplicaFetcher; connection: string; setHello: (hello: PeerHello) => void }>()

  constructor(private readonly opts: LeaderFetchersOptions) {}

  /** Follow exactly these leaders' partitions from now on. */
  follow(self: number, incarnation: string, leaders: FollowedLeader[]): void {
    const wanted = new Map(leaders.map((l) => [l.peer.id, l]))
    for (const [id, f] of this.fetchers) {
      const l = wanted.get(id)
      if (l && connectionOf(l) === f.connection) continue
      f.fetcher.close()
      this.fetchers.delete(id)
    }
    for (const l of leaders) {
      const id = l.peer.id
      let f = this.fetchers.get(id)
      if (!f) {
        let hello = l.hello
        // Read at each connect: a reloaded auth file's token is used from the link's next connect on.
        const link = new PeerLink({ peer: l.peer, hello: () => hello, tls: l.tls, maxInFlight: LINK_IN_FLIGHT, log: this.opts.log })
        const fetcher = new ReplicaFetcher({ leader: id, self, incarnation, link, append: this.opts.append, report: this.opts.report, log: this.opts.log })
        f = { fetcher, connection: connectionOf(l), setHello: (h: PeerHello) => (hello = h) }
        this.fetchers.set(id, f)
      }
      f.setHello(l.hello)
      f.fetcher.set(l.partitions)
    }
  }

  close(): void {
    for (const f of this.fetchers.values()) f.fetcher.close()
    this.fetchers.clear()
  }
}

/** What a link is made with, but the credentials (a new token is used at the next connect). */
function connectionOf(l: FollowedLeader): string {
  const { peer, tls } = l
  return `${peer.host}:${peer.port}|${peer.incarnation}|${tls?.ca ?? ''}|${tls?.cert ?? ''}|${tls?.key ?? ''}`
}
