/**
 * Telemetry sender: fire-and-forget readings over UDP, at-most-once.
 *
 *   const t = telemetry('udp://127.0.0.1:7600')
 *   t.send('sensors', { celsius: 21.5 }, { key: 'room-4' })
 *   await t.close()
 *
 * Readings are packed into datagrams per topic: one datagram holds as many
 * records as fit in `maxDatagramBytes` (default 1400, under a typical path MTU
 * so nothing is fragmented) and leaves when it is full or after `lingerMs`
 * (default 5 ms). A reading larger than that goes alone in a datagram of its
 * own, up to the 65507 bytes UDP allows. Payloads follow the same conventions
 * as publish (bytes as is, strings as UTF-8, other values as MessagePack with
 * a content-type header).
 *
 * Nothing is confirmed: a datagram can be lost, reordered or dropped by the
 * broker (it counts every drop by reason in skiff_udp_datagrams_total). For
 * readings that must arrive, publish over TCP instead. send() never waits:
 * when `maxBufferedBytes` are already queued in the socket it drops the
 * reading and returns false, the way the network would.
 *
 * With `user` and `token` the datagrams are signed (HMAC-SHA256 keyed with the
 * token), which a broker with authentication requires. The datagram layout is
 * in protocol/PROTOCOL.md, "Telemetry datagrams".
 */
import dgram from 'node:dgram'
import net from 'node:net'
import { createHmac } from 'node:crypto'
import { Op, SkiffError, checkName, encodeRecord, isDeadLetterTopic, type Headers } from '../protocol/index.js'
import { encodePayload } from './payload.js'
import { parseUrl } from './url.js'

export const DATAGRAM_VERSION = 1
export const FLAG_SIGNED = 0x01
export const HMAC_BYTES = 32
/** The largest UDP payload over IPv4. */
export const MAX_UDP_DATAGRAM = 65_507
export const DEFAULT_DATAGRAM_BYTES = 1400

export interface TelemetryOptions {
  /** Sign datagrams as this user (with `token`), for a broker with authentication. */
  user?: string
  token?: string
  /** Target datagram size in bytes (64-65507). Default 1400. */
  maxDatagramBytes?: number
  /** How long a partly filled datagram waits for more readings. Default 5 ms. */
  lingerMs?: number
  /** Bytes that may wait in the socket's send queue before send() drops. Default 4 MiB. */
  maxBufferedBytes?: number
}

export interface TelemetrySendOptions {
  key?: string
  headers?: Headers
}

export interface TelemetryStats {
  /** Readings handed to the socket in datagrams. */
  records: number
  datagrams: number
  /** Readings send() refused because the socket queue was full or the sender closed. */
  dropped: number
  /** Datagrams the socket failed to send (e.g. nobody listening, reported by ICMP). */
  errors: number
}

interface Batch {
  header: Buffer
  records: Buffer[]
  bytes: number
}

export function telemetry(url: string, opts: TelemetryOptions = {}): Telemetry {
  return new Telemetry(url, opts)
}

export class Telemetry {
  readonly stats: TelemetryStats = { records: 0, datagrams: 0, dropped: 0, errors: 0 }
  readonly maxDatagramBytes: number
  readonly lingerMs: number
  readonly maxBufferedBytes: number
  private readonly socket: dgram.Socket
  private readonly batches = new Map<string, Batch>()
  private readonly signer: { user: Buffer; token: string } | undefined
  private timer: NodeJS.Timeout | undefined
  /** Datagrams made before the socket was connected. */
  private waiting: Buffer[] | undefined = []
  private sending = 0
  private idle: (() => void)[] = []
  private closed = false
  /** The socket could not connect: every datagram fails. */
  private broken = false

  constructor(url: string, opts: TelemetryOptions = {}) {
    const addr = parseUrl(url)
    if (addr.transport !== 'udp') throw new SkiffError('INVALID_REQUEST', `telemetry needs a udp:// URL, not ${JSON.stringify(url)}`)
    this.maxDatagramBytes = opts.maxDatagramBytes ?? DEFAULT_DATAGRAM_BYTES
    if (!Number.isInteger(this.maxDatagramBytes) || this.maxDatagramBytes < 64 || this.maxDatagramBytes > MAX_UDP_DATAGRAM) {
      throw new SkiffError('INVALID_REQUEST', `maxDatagramBytes must be 64-${MAX_UDP_DATAGRAM}`)
    }
    this.lingerMs = opts.lingerMs ?? 5
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 4 * 1024 * 1024
    if ((opts.user === undefined) !== (opts.token === undefined)) throw new SkiffError('INVALID_REQUEST', 'signing needs both user and token')
    if (opts.user !== undefined && opts.token !== undefined) {
      const user = Buffer.from(opts.user, 'utf8')
      if (user.length < 1 || user.length > 255) throw new SkiffError('INVALID_REQUEST', 'user must be 1-255 bytes of UTF-8')
      this.signer = { user, token: opts.token }
    }
    this.socket = dgram.createSocket(net.isIPv6(addr.host) ? 'udp6' : 'udp4')
    this.socket.on('error', () => {
      this.stats.errors++
      // Before the socket connected (e.g. the host does not resolve) nothing can go out.
      if (this.waiting) this.abandonWaiting()
    })
    this.socket.connect(addr.port, addr.host, () => {
      const queued = this.waiting ?? []
      this.waiting = undefined
      for (const d of queued) this.transmit(d)
    })
    // An idle sender does not keep the process alive; datagrams being sent do.
    this.socket.unref()
  }

  /** Queue a reading; false when it was dropped (socket queue full, or closed). */
  send(topic: string, payload: unknown, opts: TelemetrySendOptions = {}): boolean {
    checkName('topic', topic)
    if (isDeadLetterTopic(topic)) throw new SkiffError('INVALID_REQUEST', `${topic} is a dead-letter topic: only the broker writes to it`)
    const { bytes, headers } = encodePayload(payload, opts.headers)
    const record = encodeRecord({ key: opts.key, headers, payload: bytes })
    let batch = this.batches.get(topic)
    const header = batch?.header ?? this.header(topic)
    const overhead = header.length + (this.signer ? HMAC_BYTES : 0)
    if (overhead + record.length > MAX_UDP_DATAGRAM) {
      throw new SkiffError('INVALID_REQUEST', `a reading of ${record.length} bytes does not fit in one UDP datagram (at most ${MAX_UDP_DATAGRAM - overhead})`)
    }
    if (this.closed || this.socket.getSendQueueSize?.() > this.maxBufferedBytes) {
      this.stats.dropped++
      return false
    }
    if (batch && overhead + batch.bytes + record.length > this.maxDatagramBytes) {
      this.emit(topic, batch)
      batch = undefined
    }
    if (!batch) this.batches.set(topic, (batch = { header, records: [], bytes: 0 }))
    batch.records.push(record)
    batch.bytes += record.length
    if (overhead + batch.bytes >= this.maxDatagramBytes) this.emit(topic, batch)
    else this.timer ??= setTimeout(() => this.emitAll(), this.lingerMs)
    return true
  }

  /** Send every partly filled datagram now; resolves once the socket has sent them all. */
  flush(): Promise<void> {
    this.emitAll()
    if (this.sending === 0 && !this.waiting?.length) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }

  /** Flush, then close the socket. Later send() calls drop. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.flush()
    await new Promise<void>((resolve) => this.socket.close(() => resolve()))
  }

  /** magic, version, flags, topic, [user]; the count follows per datagram. */
  private header(topic: string): Buffer {
    const t = Buffer.from(topic, 'latin1') // checked: ASCII only
    const parts: Buffer[] = [Buffer.from([Op.TELEMETRY, DATAGRAM_VERSION, this.signer ? FLAG_SIGNED : 0, t.length]), t]
    if (this.signer) parts.push(Buffer.from([this.signer.user.length]), this.signer.user)
    return Buffer.concat(parts)
  }

  private emitAll(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    for (const [topic, batch] of this.batches) this.emit(topic, batch)
  }

  private emit(topic: string, batch: Batch): void {
    this.batches.delete(topic)
    const count = Buffer.alloc(4)
    count.writeUInt32BE(batch.records.length)
    let datagram: Buffer = Buffer.concat([batch.header, count, ...batch.records])
    if (this.signer) datagram = Buffer.concat([datagram, createHmac('sha256', this.signer.token).update(datagram).digest()])
    this.stats.records += batch.records.length
    this.stats.datagrams++
    if (this.broken) this.stats.errors++
    else if (this.waiting) this.waiting.push(datagram)
    else this.transmit(datagram)
  }

  private abandonWaiting(): void {
    this.broken = true
    this.stats.errors += this.waiting?.length ?? 0
    this.waiting = undefined
    if (this.sending === 0) for (const resolve of this.idle.splice(0)) resolve()
  }

  private transmit(datagram: Buffer): void {
    this.sending++
    this.socket.send(datagram, (err) => {
      if (err) this.stats.errors++
      if (--this.sending === 0) for (const resolve of this.idle.splice(0)) resolve()
    })
  }
}
