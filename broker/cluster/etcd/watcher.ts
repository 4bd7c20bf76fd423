/**
 * PrefixWatcher: list-then-watch of every key under a prefix, as one ordered
 * stream of events that neither misses nor repeats a change.
 *
 * It lists the prefix at revision R (a `resync` event: the full snapshot),
 * then watches from R + 1. Each change comes as a `put` or `delete`. When the
 * stream fails (member killed, restarted, stalled, or left without a leader:
 * the stream carries `hasleader`), it reconnects to the next member and
 * resumes from the last revision it delivered + 1, dropping anything at or
 * below it. When that revision has been compacted away, etcd cancels the watch
 * with compact_revision; the watcher lists again and delivers a new `resync`,
 * which replaces everything the consumer knew.
 *
 * Liveness: the watch asks for progress notifications, and every
 * `heartbeatMs` sends a progress request; a stream silent for two heartbeats
 * is abandoned for the next member. The revision in a progress answer is NOT
 * used to move the resume point: on etcd 3.4.23 it can run ahead of events
 * still to be sent (etcd issue 15220, fixed in 3.4.25), and resuming from it
 * would skip them. Only delivered events move it.
 *
 * Consume with `for await (const ev of watcher)` or pass `onEvent`.
 */
import type * as GrpcJs from '@grpc/grpc-js'
import type { EtcdClient } from './client.js'
import { fromRawKv, prefixEnd, toBuffer, toNumber, type KeyValue, type RawHeader, type RawKeyValue } from './codec.js'
import type { Endpoint } from './endpoint.js'

export type WatchEvent =
  | { type: 'put' | 'delete'; key: string; value: string; modRevision: number; prevValue?: string }
  | { type: 'resync'; kvs: KeyValue[]; revision: number }

export interface PrefixWatcherOptions {
  /** Deliver each event's previous value as `prevValue` (etcd's prev_kv). */
  prevKv?: boolean
  /** Progress request interval; a stream silent for two of them is replaced (5000). */
  heartbeatMs?: number
  /** Called for each event instead of queueing it for the async iterator. */
  onEvent?: (ev: WatchEvent) => void
  /** Told about each failure the watcher recovers from (for logs). */
  onError?: (err: unknown) => void
}

interface RawWatchResponse {
  header: RawHeader
  created: boolean
  canceled: boolean
  compact_revision: string
  cancel_reason: string
  events: { type: 'PUT' | 'DELETE'; kv: RawKeyValue; prev_kv: RawKeyValue | null }[]
}

const QUEUE_HIGH = 10_000

export class PrefixWatcher implements AsyncIterable<WatchEvent> {
  /** The revision everything delivered so far is consistent with (0 before the first list). */
  revision = 0
  private closed = false
  private stream: { call: GrpcJs.ClientDuplexStream<unknown, unknown>; endpoint: Endpoint } | undefined
  private lastHeard = 0
  private heartbeat: NodeJS.Timeout | undefined
  private retryDelay = 0
  private retryTimer: NodeJS.Timeout | undefined
  private readonly queue: WatchEvent[] = []
  private wake: (() => void) | undefined
  private readonly heartbeatMs: number

  constructor(private readonly client: EtcdClient, readonly prefix: string, private readonly opts: PrefixWatcherOptions = {}) {
    if (!prefix) throw new Error('PrefixWatcher: empty prefix')
    this.heartbeatMs = opts.heartbeatMs ?? 5000
    this.heartbeat = setInterval(() => this.checkAlive(), this.heartbeatMs)
    this.heartbeat.unref()
    this.relist()
  }

  /** The member the watch stream is on now, if one is open. */
  get endpoint(): string | undefined {
    return this.stream?.endpoint.url
  }

  /** Lists the prefix (resync), then watches from the listed revision + 1. Retries until closed. */
  private relist(): void {
    this.closeStream()
    this.client.getPrefix(this.prefix).then((r) => {
      if (this.closed) return
      this.revision = r.revision
      this.deliver({ type: 'resync', kvs: r.kvs, revision: r.revision })
      this.watch()
    }, (err) => this.retry(err, () => this.relist()))
  }

  private watch(): void {
    if (this.closed) return
    let stream: { call: GrpcJs.ClientDuplexStream<unknown, unknown>; endpoint: Endpoint }
    try {
      stream = this.client.openStream('Watch', 'Watch')
    } catch (err) {
      return this.retry(err, () => this.watch())
    }
    this.stream = stream
    this.lastHeard = Date.now()
    const { call } = stream
    call.on('data', (res: RawWatchResponse) => {
      if (this.stream !== stream) return
      this.lastHeard = Date.now()
      if (res.compact_revision !== '0') return this.relist() // our resume point is gone: start over
      if (res.canceled) return this.failed(stream, new Error(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`))
      if (res.created) this.retryDelay = 0
      this.onEvents(res.events)
    })
    call.on('error', (err) => this.failed(stream, err))
    call.on('end', () => this.failed(stream, new Error('etcd ended the watch stream')))
    call.write({
      create_request: {
        key: toBuffer(this.prefix),
        range_end: prefixEnd(this.prefix),
        start_revision: String(this.revision + 1),
        progress_notify: true,
        prev_kv: this.opts.prevKv ?? false,
      },
    })
  }

  private onEvents(events: RawWatchResponse['events']): void {
    const floor = this.revision
    for (const ev of events) {
      const kv = fromRawKv(ev.kv)
      if (kv.modRevision <= floor) continue // already delivered before a reconnect
      const out: WatchEvent = { type: ev.type === 'DELETE' ? 'delete' : 'put', key: kv.key, value: kv.value, modRevision: kv.modRevision }
      if (this.opts.prevKv && ev.prev_kv) out.prevValue = ev.prev_kv.value.toString('utf8')
      this.revision = kv.modRevision
      this.deliver(out)
    }
  }

  private checkAlive(): void {
    const s = this.stream
    if (!s || this.closed) return
    if (Date.now() - this.lastHeard > 2 * this.heartbeatMs) return this.failed(s, new Error(`etcd watch at ${s.endpoint.url}: silent for ${2 * this.heartbeatMs} ms`))
    s.call.write({ progress_request: {} })
  }

  private failed(stream: { endpoint: Endpoint }, err: unknown): void {
    if (this.stream !== stream || this.closed) return
    this.client.failedOver(stream.endpoint)
    this.closeStream()
    this.retry(err, () => this.watch())
  }

  /** Backs off 50 ms doubling to 1 s: a member coming back gets a moment; a dead one is skipped by failover. */
  private retry(err: unknown, again: () => void): void {
    if (this.closed) return
    this.opts.onError?.(err)
    this.retryDelay = Math.min(Math.max(this.retryDelay * 2, 50), 1000)
    this.retryTimer = setTimeout(again, this.retryDelay)
  }

  private closeStream(): void {
    const s = this.stream
    this.stream = undefined
    if (s) {
      s.call.removeAllListeners('data')
      s.call.removeAllListeners('end')
      s.call.on('error', () => {}) // a cancelled call still reports CANCELLED
      s.call.cancel()
    }
  }

  private deliver(ev: WatchEvent): void {
    if (this.closed) return
    if (this.opts.onEvent) return this.opts.onEvent(ev)
    this.queue.push(ev)
    if (this.queue.length >= QUEUE_HIGH) this.stream?.call.pause() // etcd holds the rest until we read
    this.wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    while (!this.closed) {
      const ev = this.queue.shift()
      if (ev) {
        if (this.queue.length < QUEUE_HIGH / 2) this.stream?.call.resume()
        yield ev
        continue
      }
      await new Promise<void>((r) => (this.wake = r))
      this.wake = undefined
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.heartbeat)
    clearTimeout(this.retryTimer)
    this.closeStream()
    this.wake?.()
  }
}
