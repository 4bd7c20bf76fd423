/**
 * The client: one connection to a broker, and the producers, consumers and
 * admin calls that share it.
 *
 * Events: 'close' (reason: SkiffError | undefined) once the connection is gone
 * (undefined after close()); 'error' (SkiffError) for problems that belong to
 * no call: a connection-level ERROR, a failed fire-and-forget publish, the
 * loss of the connection. 'error' is emitted only when someone listens, so a
 * client without an 'error' listener never crashes the process; the failures
 * still reach every pending call as rejections.
 */
import { EventEmitter } from 'node:events'
import type tls from 'node:tls'
import { MAX_IN_FLIGHT_LIMIT, SkiffError, checkName, decodeOk, encodeSubscribe, type Deliver, type Welcome } from '../protocol/index.js'
import { Admin } from './admin.js'
import { Connection, type ConnectionHooks } from './connection.js'
import { Consumer, startPosition, type ConsumerHost, type SubscribeOptions } from './consumer.js'
import { Producer, type ProducerOptions } from './producer.js'
import { DEFAULT_URL, parseUrl } from './url.js'

export interface ConnectOptions {
  /** Shown in the broker's logs and metrics. Default "skiffmq-client". */
  name?: string
  token?: string
  /** TCP connect plus handshake. Default 10 s. */
  connectTimeoutMs?: number
  /** Any request (publish confirm, subscribe, admin) without an answer in this time fails with TIMEOUT. Default 30 s. */
  requestTimeoutMs?: number
  /** close() waits at most this long for unconfirmed publishes. Default 10 s. */
  drainTimeoutMs?: number
  /** TLS options for skiffs:// URLs. */
  tls?: tls.ConnectionOptions
}

export async function connect(url: string = DEFAULT_URL, opts: ConnectOptions = {}): Promise<Client> {
  const address = parseUrl(url)
  const client = new Client(opts.drainTimeoutMs ?? 10_000)
  const conn = await Connection.open(
    address,
    {
      name: opts.name ?? 'skiffmq-client',
      token: opts.token,
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
      tls: opts.tls,
    },
    client.hooks(),
  )
  client.attach(conn)
  return client
}

export class Client extends EventEmitter implements ConsumerHost {
  readonly admin: Admin = new Admin(this)
  private conn: Connection | undefined
  private readonly producers = new Set<Producer>()
  private readonly consumers = new Map<number, Consumer>()
  private nextSub = 0
  private closing: Promise<void> | undefined

  /** Use connect(). */
  constructor(private readonly drainTimeoutMs: number) {
    super()
  }

  get connection(): Connection {
    if (!this.conn) throw new SkiffError('CONNECTION_CLOSED', 'the client is not connected')
    return this.conn
  }

  /** What the broker said in its WELCOME (version, limits, connection id). */
  get welcome(): Welcome {
    return this.connection.welcome
  }

  get closed(): boolean {
    return this.closing !== undefined || !this.connection.isOpen
  }

  /** A new producer sharing this connection; each has its own maxInFlight. */
  producer(opts: ProducerOptions = {}): Producer {
    this.checkUsable()
    const p = new Producer(this, opts)
    this.producers.add(p)
    return p
  }

  /** Join `opts.group` on `topic`; resolves once the broker has accepted the subscription. */
  async subscribe(topic: string, opts: SubscribeOptions): Promise<Consumer> {
    this.checkUsable()
    checkName('topic', topic)
    checkName('group', opts?.group)
    const maxInFlight = opts.maxInFlight ?? 500
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > MAX_IN_FLIGHT_LIMIT) {
      throw new SkiffError('INVALID_REQUEST', `maxInFlight must be an integer in 1..${MAX_IN_FLIGHT_LIMIT}, got ${maxInFlight}`)
    }
    const { start, startValue } = startPosition(opts.from)
    const conn = this.connection
    this.nextSub = this.nextSub >= 0xffffffff ? 1 : this.nextSub + 1
    const sub = this.nextSub
    const consumer = new Consumer(this, topic, opts.group, sub, maxInFlight)
    // Registered before asking, so a DELIVER right behind the OK finds its consumer.
    this.consumers.set(sub, consumer)
    const corr = conn.nextCorr()
    try {
      const answer = await conn.request(
        corr,
        encodeSubscribe({ corr, sub, topic, group: opts.group, start, startValue, maxInFlight, ackTimeoutMs: opts.ackTimeoutMs, maxDeliveries: opts.maxDeliveries }),
        `SUBSCRIBE to ${topic} as ${opts.group}`,
      )
      const result = decodeOk(answer.body).result as { partitions?: unknown } | undefined
      if (Array.isArray(result?.partitions)) consumer.partitions = result.partitions as number[]
      else if (typeof result?.partitions === 'number') consumer.partitions = Array.from({ length: result.partitions }, (_, i) => i)
    } catch (err) {
      this.consumers.delete(sub)
      consumer.connectionLost(undefined)
      throw err
    }
    return consumer
  }

  /**
   * Drain and close: waits (at most drainTimeoutMs) until every publish is
   * confirmed or rejected, sends pending acks, then closes the connection.
   * Whatever is still pending then rejects with CONNECTION_CLOSED.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  private async doClose(): Promise<void> {
    const conn = this.conn
    if (!conn || !conn.isOpen) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all([...this.producers].map((p) => p.flush())),
      new Promise((resolve) => (timer = setTimeout(resolve, this.drainTimeoutMs))),
    ])
    clearTimeout(timer)
    for (const c of this.consumers.values()) c.flushAcks()
    await conn.close()
  }

  forget(consumer: Consumer): void {
    if (this.consumers.get(consumer.sub) === consumer) this.consumers.delete(consumer.sub)
  }

  /** @internal the connection's view of this client. */
  hooks(): ConnectionHooks {
    return {
      deliver: (d: Deliver) => this.consumers.get(d.sub)?.deliver(d),
      unsolicitedError: (err, corr) => this.report(new SkiffError(err.codeName, `fire-and-forget publish ${corr} failed: ${err.message}`, { cause: err, details: { corr, ...err.details } })),
      connectionError: (err) => this.report(err),
      closed: (reason) => this.onClosed(reason),
    }
  }

  /** @internal */
  attach(conn: Connection): void {
    this.conn = conn
  }

  private checkUsable(): void {
    if (this.closing) throw new SkiffError('CONNECTION_CLOSED', 'the client is closed')
    if (!this.connection.isOpen) throw new SkiffError('CONNECTION_CLOSED', 'the connection is closed')
  }

  private onClosed(reason: SkiffError | undefined): void {
    if (!this.conn) return // the handshake failed: connect() rejects with the reason
    const err = reason ?? new SkiffError('CONNECTION_CLOSED', 'the client is closed')
    for (const p of this.producers) p.connectionLost(err)
    for (const c of [...this.consumers.values()]) c.connectionLost(reason)
    this.consumers.clear()
    if (reason) this.report(reason)
    this.emit('close', reason)
  }

  private report(err: SkiffError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }
}
