/**
 * The client: a link to the broker (link.ts, which reconnects) and the
 * producers, consumers and admin calls that share it.
 *
 * What happens on a reconnect, step by step:
 * 1. The connection is lost (socket closed or reset, IDLE_TIMEOUT after
 *    heartbeat silence, a frame that cannot be trusted). Requests in flight
 *    on it (admin calls, subscribes) reject with CONNECTION_CLOSED.
 *    'disconnect' is emitted with the reason; status becomes 'reconnecting'.
 * 2. Every consumer forgets the old connection: messages received but not
 *    yet taken are dropped and settlements not yet sent are forgotten (the
 *    broker releases that connection's unsettled messages and delivers them
 *    again). Iterators and handlers keep waiting; nothing throws.
 * 3. Every producer puts its unconfirmed confirmed-publish batches back at
 *    the front of its queue, in their original order. publish() calls keep
 *    waiting (bounded by maxInFlight and by their own requestTimeoutMs).
 * 4. The link waits by the backoff policy (full jitter) and connects to the
 *    next URL of the list ('reconnecting' event per attempt), with the same
 *    HELLO (name, token, user). Failed attempts repeat this step; by default
 *    forever. Admin calls and subscribe() made meanwhile wait for it.
 * 5. On WELCOME: status 'connected', 'connect' is emitted, producers re-send
 *    their unconfirmed batches verbatim (same producer id and sequence; the
 *    broker answers those it already stored with their original offsets),
 *    then write what queued during the outage; every consumer subscribes
 *    again with its id, group and options (the group keeps its position).
 * 6. Once the broker accepted every subscription, 'reconnect' is emitted. A
 *    subscription the broker now refuses (say, its topic was deleted) ends
 *    that consumer with the error; a retriable failure drops the connection
 *    and the loop starts again at step 1.
 *
 * Events: 'connect' ({ url, welcome }) for every connection made;
 * 'disconnect' (reason) when one is lost; 'reconnecting' (RetryInfo) before
 * each attempt; 'reconnect' ({ url, attempts }) once a connection is back
 * with its subscriptions; 'close' (reason | undefined) when the client is
 * closed for good (undefined after close()); 'error' (err) for problems
 * that belong to no call: a connection-level ERROR, a failed
 * fire-and-forget publish, a protocol violation or heartbeat silence, a
 * handler that threw (when its consumer has no 'error' listener), giving up.
 * 'error' is emitted only when someone listens, so a client without an
 * 'error' listener never crashes the process; the failures still reach
 * every pending call as rejections.
 *
 * In a cluster (the first WELCOME says `clustered: true`), all of the above
 * describes the seed connection, the one connect() made, which admin calls
 * and request/serve keep using. Producers and consumers go through one
 * internal client per broker instead (cluster-router.ts), each of which
 * reconnects and re-subscribes by these same steps on its own; a producer's
 * batches follow their partition's leader instead of waiting for a link
 * (cluster-producer.ts, partition-routes.ts). Those links' losses are not
 * events of this client, and what belongs to no call reaches its 'error'. `status` and `welcome` are the seed connection's.
 */
import { EventEmitter } from 'node:events'
import type tls from 'node:tls'
import { MAX_IN_FLIGHT_LIMIT, SkiffError, checkName, decodeOk, encodeSubscribe, type Welcome } from '../protocol/index.js'
import { Admin } from './admin.js'
import { reconnectPolicy, type ReconnectOptions } from './backoff.js'
import { MergedConsumer } from './cluster-consumer.js'
import { RoutedProducer } from './cluster-producer.js'
import { ClusterRouter, REFRESH_MS } from './cluster-router.js'
import type { Connection } from './connection.js'
import { Consumer, startPosition, type MessageHandler, type SubscribeOptions } from './consumer.js'
import { Link, type ClientStatus, type RetryInfo } from './link.js'
import { Producer, type ProducerOptions, type WhenFull } from './producer.js'
import { StraySubscriptions } from './stray-subscriptions.js'
import { Services, sendRequest, type RequestMessage, type RequestOptions, type ServeHandler, type Service } from './request-reply.js'
import { DEFAULT_URL, formatAddress, parseBrokerUrls, type BrokerAddress } from './url.js'

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Shown in the broker's logs and metrics. Default "skiffmq-client". */
  name?: string
  /** Credentials sent in HELLO (when the broker has auth enabled). */
  token?: string
  /**
   * The auth-file user the token belongs to, sent in HELLO. Required when the
   * broker's auth file keeps only the token's hash (`tokenHash`); optional for
   * plain tokens.
   */
  user?: string
  /** TCP connect plus handshake, per attempt. Default 10 s. */
  connectTimeoutMs?: number
  /** Any call (publish confirm, subscribe, admin) not answered within this fails with TIMEOUT, counted from the call. Default 30 s. */
  requestTimeoutMs?: number
  /** close() waits at most this long for unconfirmed publishes and unsettled messages. Default 10 s. */
  drainTimeoutMs?: number
  /**
   * In a cluster: the cluster's metadata is asked again at least this often,
   * as Kafka's metadata.max.age.ms (besides at once after a refusal, a lost
   * connection, or a broker saying it no longer leads a partition). Default 10 s.
   */
  metadataRefreshMs?: number
  /** TLS options for skiffs:// URLs (ca, cert, key, rejectUnauthorized, ...). */
  tls?: tls.ConnectionOptions
  /** Largest frame accepted from the broker, whatever limit it announces (a guard against a hostile peer). Default 64 MiB. */
  maxReceiveFrame?: number
  /** Reconnect after losing the connection (default: yes, forever, 100 ms to 5 s backoff); false to close instead. */
  reconnect?: ReconnectOptions | boolean
}

/** What 'connect' and 'reconnect' tell. */
export interface ConnectInfo {
  /** The broker URL connected to. */
  url: string
  /** The broker's WELCOME. */
  welcome: Welcome
  /** Attempts it took (0 for the first connection). */
  attempts: number
}

/**
 * Connect to a broker (or the first that answers of a list, tried in order)
 * and resolve with a client once the handshake is done. Rejects when no
 * broker answers: a client reconnects by itself only after it was connected.
 */
export async function connect(url: string | readonly string[] = DEFAULT_URL, opts: ConnectOptions = {}): Promise<Client> {
  const client = new Client(parseBrokerUrls(url), opts)
  await client.start()
  return client
}

/**
 * The client's events and their listeners' arguments (see the header comment
 * of this file). `on`, `once`, `off` and `emit` take only these names, so a
 * misspelt event or a listener of the wrong shape does not compile.
 */
export interface ClientEvents {
  /** A connection was made (the first, and every one after a reconnect). */
  connect: [info: ConnectInfo]
  /** A connection is back, with every subscription accepted again. */
  reconnect: [info: ConnectInfo]
  /** The connection was lost; the client reconnects unless it gives up. */
  disconnect: [reason: SkiffError]
  /** Before each reconnect attempt. */
  reconnecting: [info: RetryInfo]
  /** Closed for good: `undefined` after close(), else why it gave up. */
  close: [reason: SkiffError | undefined]
  /** A failure that belongs to no call; emitted only when someone listens. */
  error: [err: Error]
}

/** A connection to a broker (kept up by reconnecting), shared by producers, consumers and `admin`. */
export class Client extends EventEmitter<ClientEvents> {
  /** Topic and group administration. */
  readonly admin: Admin
  /** See {@link ConnectOptions.requestTimeoutMs}. */
  readonly requestTimeoutMs: number
  /** @internal See {@link ConnectOptions.metadataRefreshMs} (the cluster router reads it). */
  readonly metadataRefreshMs: number
  /** See {@link ConnectOptions.drainTimeoutMs}. */
  readonly drainTimeoutMs: number
  private readonly link: Link
  private readonly producers = new Set<Producer<WhenFull>>()
  private readonly consumers = new Map<number, Consumer>()
  /** DELIVERs for subscriptions no consumer here has are answered with UNSUBSCRIBE (stray-subscriptions.ts). */
  private readonly strays = new StraySubscriptions()
  private nextSub = 0
  private readonly services: Services
  private closing: Promise<void> | undefined
  /** Set when the first WELCOME says clustered (see cluster-router.ts). */
  private router: ClusterRouter | undefined

  /** Use {@link connect}. @internal `routes`: false for a cluster's per-broker links, which never route themselves. */
  constructor(
    private readonly addresses: readonly BrokerAddress[],
    private readonly opts: ConnectOptions,
    private readonly routes = true,
  ) {
    super()
    this.requestTimeoutMs = positiveMs('requestTimeoutMs', opts.requestTimeoutMs ?? 30_000)
    this.drainTimeoutMs = positiveMs('drainTimeoutMs', opts.drainTimeoutMs ?? 10_000)
    const connectTimeoutMs = positiveMs('connectTimeoutMs', opts.connectTimeoutMs ?? 10_000)
    this.metadataRefreshMs = positiveMs('metadataRefreshMs', opts.metadataRefreshMs ?? REFRESH_MS)
    this.link = new Link(
      addresses,
      {
        name: opts.name ?? 'skiffmq-client',
        token: opts.token,
        user: opts.user,
        connectTimeoutMs,
        requestTimeoutMs: this.requestTimeoutMs,
        maxReceiveFrame: positiveMs('maxReceiveFrame', opts.maxReceiveFrame ?? 64 * 1024 * 1024),
        tls: opts.tls,
      },
      reconnectPolicy(opts.reconnect),
      {
        up: (conn, attempts) => this.onUp(conn, attempts),
        down: (reason, retrying) => this.onDown(reason, retrying),
        retrying: (info) => this.emit('reconnecting', info),
        ended: (reason) => this.onEnded(reason),
        deliver: (d) => {
          const consumer = this.consumers.get(d.sub)
          if (consumer) consumer.deliver(d)
          else this.strays.release(this.link.current, d.sub)
        },
        request: (r, conn) => this.services.onRequest(r, conn),
        unsolicitedError: (err, corr) => this.report(new SkiffError(err.code, `fire-and-forget publish ${corr} failed: ${err.message}`, { cause: err, details: { corr, ...err.details } })),
        connectionError: (err) => this.brokerError(err),
      },
    )
    this.admin = new Admin(this)
    this.services = new Services(this)
  }

  /**
   * An ERROR that answers no request. UNKNOWN_TOPIC or UNKNOWN_GROUP naming a
   * subscription (details.sub) means its topic or group was deleted: that consumer ends with the
   * error (its iterator throws it, handlers get it as 'error'). NOT_LEADER naming one means the
   * broker no longer leads some of its partitions (`details.partitions`): a cluster consumer
   * follows them, the subscription goes on. Anything else is the client's 'error' event.
   */
  private brokerError(err: SkiffError): void {
    const sub = err.details?.sub
    const named = typeof sub === 'number' ? this.consumers.get(sub) : undefined
    if (named && err.code === 'NOT_LEADER' && named.onLeadershipMoved) {
      const partitions = err.details?.partitions
      return named.onLeadershipMoved(Array.isArray(partitions) ? partitions.filter((p): p is number => Number.isSafeInteger(p)) : [])
    }
    const ended = err.code === 'UNKNOWN_TOPIC' || err.code === 'UNKNOWN_GROUP'
    const consumer = ended ? named : undefined
    if (!consumer) return this.report(err)
    this.forget(consumer)
    consumer.fail(err)
    if (consumer.listenerCount('error') > 0) consumer.emit('error', err)
    else if (consumer.listenerCount('message') > 0) this.report(err)
  }

  /**
   * @internal The first connect. When the broker is one of a cluster, the
   * cluster's METADATA is asked too and publishes and subscriptions are
   * routed by it from then on (cluster-router.ts). Decision: when that
   * METADATA is refused (say, the user may not describe topics), the client
   * stays a single-broker client on the seed connection, as an older client
   * would be, rather than failing connect().
   */
  async start(): Promise<void> {
    await this.link.start()
    if (!this.routes || this.link.welcome?.clustered !== true) return
    const router = new ClusterRouter(this, this.opts, (address) => new Client([address], this.opts, false), this.addresses[0]!.transport)
    try {
      await router.start()
      this.router = router
    } catch {
      await router.close()
    }
  }

  /** 'connecting', 'connected', 'reconnecting' or 'closed' (from the moment close() is called). */
  get status(): ClientStatus {
    return this.closing ? 'closed' : this.link.status
  }

  /** True once close() was called or the client gave up reconnecting. */
  get closed(): boolean {
    return this.status === 'closed'
  }

  /** @internal The open connection; throws CONNECTION_CLOSED while reconnecting or closed. */
  get connection(): Connection {
    const conn = this.link.current
    if (!conn) throw new SkiffError('CONNECTION_CLOSED', this.closed ? 'the client is closed' : 'the client is not connected (reconnecting)')
    return conn
  }

  /** What the broker said in its latest WELCOME (version, limits, connection id). */
  get welcome(): Welcome {
    return this.link.welcome!
  }

  /** @internal */
  get current(): Connection | undefined {
    return this.link.current
  }

  /** @internal */
  get maxFrame(): number {
    return this.link.maxFrame
  }

  /** @internal */
  get lastError(): SkiffError | undefined {
    return this.link.lastError
  }

  /** @internal */
  ready(timeoutMs: number, what: string): Promise<Connection> {
    return this.link.ready(timeoutMs, what)
  }

  /** A new producer sharing this connection (in a cluster, the client's broker links); each has its own maxInFlight and its own idempotence id. */
  producer<M extends WhenFull = 'drop'>(opts: ProducerOptions<M> = {}): Producer<M> {
    this.checkUsable()
    const p = this.router ? new RoutedProducer<M>(this, this.router, opts) : new Producer<M>(this, opts)
    this.producers.add(p)
    return p
  }

  /**
   * Join `opts.group` on `topic`; resolves once the broker has accepted the
   * subscription. With `handler`, messages go to it (as with
   * `consumer.on('message', handler)`); without, iterate the consumer.
   * While the client reconnects, waits for the connection (requestTimeoutMs).
   */
  subscribe(topic: string, opts: SubscribeOptions, handler?: MessageHandler): Promise<Consumer> {
    return this.subscribeTo(topic, opts, handler, undefined)
  }

  /** @internal subscribe() to the named `partitions` only (a cluster's per-broker links name those their broker leads). */
  async subscribeTo(topic: string, opts: SubscribeOptions, handler: MessageHandler | undefined, partitions: number[] | undefined): Promise<Consumer> {
    this.checkUsable()
    checkName('topic', topic)
    const ephemeral = opts?.group === undefined
    if (!ephemeral) checkName('group', opts.group)
    const maxInFlight = opts.maxInFlight ?? 500
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > MAX_IN_FLIGHT_LIMIT) {
      throw new SkiffError('INVALID_REQUEST', `maxInFlight must be an integer in 1..${MAX_IN_FLIGHT_LIMIT}, got ${maxInFlight}`)
    }
    const concurrency = opts.concurrency ?? 1
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new SkiffError('INVALID_REQUEST', `concurrency must be a positive integer, got ${concurrency}`)
    if (handler !== undefined && typeof handler !== 'function') throw new SkiffError('INVALID_REQUEST', 'the message handler must be a function')
    const ack = opts.ack ?? 'explicit'
    if (ack !== 'explicit' && ack !== 'none') throw new SkiffError('INVALID_REQUEST', `ack must be 'explicit' or 'none', got ${JSON.stringify(ack)}`)
    const { start, startValue } = startPosition(opts.from)
    this.nextSub = this.nextSub >= 0xffffffff ? 1 : this.nextSub + 1
    const sub = this.nextSub
    const subscription = { sub, topic, group: opts.group ?? '', ...(ephemeral ? { ephemeral } : {}), start, startValue, maxInFlight, ackTimeoutMs: opts.ackTimeoutMs, maxDeliveries: opts.maxDeliveries, ack, ...(partitions ? { partitions } : {}) }
    if (this.router) {
      const merged = new MergedConsumer(this, subscription, this.router, opts, opts.autoAck ?? false, concurrency)
      await merged.open()
      this.router.consumers.add(merged)
      if (handler) merged.on('message', handler)
      return merged
    }
    const consumer = new Consumer(this, subscription, opts.autoAck ?? false, concurrency)
    // Registered before asking, so a DELIVER right behind the OK finds its consumer.
    this.consumers.set(sub, consumer)
    try {
      const deadline = Date.now() + this.requestTimeoutMs
      const conn = await this.link.ready(this.requestTimeoutMs, `SUBSCRIBE to ${topic} as ${opts.group}`)
      await this.sendSubscribe(conn, consumer, Math.max(1, deadline - Date.now()))
      consumer.established = true
    } catch (err) {
      this.consumers.delete(sub)
      consumer.connectionLost(undefined)
      throw err
    }
    if (handler) consumer.on('message', handler)
    return consumer
  }

  /**
   * Ask whoever serves `topic` (see serve()) and resolve with the reply.
   * Rejects with TIMEOUT when no reply comes within `timeoutMs` (default
   * requestTimeoutMs), NO_RESPONDERS when nobody serves the topic or the
   * server went away, INTERNAL with the server's message when its handler
   * failed. At most once: never re-sent after a reconnect.
   */
  request(topic: string, payload: unknown, opts: RequestOptions = {}): Promise<RequestMessage> {
    this.checkUsable()
    return sendRequest(this, topic, payload, opts)
  }

  /**
   * Answer requests on `topic`: `handler(request)` returns the reply payload
   * (or a promise of it); a thrown error is sent back as the failure.
   * Resolves once the broker accepted; served again after every reconnect.
   */
  serve(topic: string, handler: ServeHandler): Promise<Service> {
    this.checkUsable()
    return this.services.serve(topic, handler)
  }

  /**
   * Drain and close. When connected: consumers stop taking messages, then
   * close() waits (at most drainTimeoutMs) until every publish is confirmed
   * or rejected and every running message handler has finished, sends the
   * settlements made so far and closes the connection (the broker releases
   * unsettled messages for redelivery). When the broker is unreachable at the time of
   * the call, it does not wait for it. Whatever is still pending then
   * rejects with CONNECTION_CLOSED.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  private async doClose(): Promise<void> {
    if (this.link.status === 'closed') return
    const consumers = [...this.consumers.values(), ...(this.router?.consumers ?? [])]
    if (this.link.current) {
      for (const c of consumers) c.beginClose()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        // Handlers running now may still ack; a message taken from an iterator is not waited for:
        // the code that would settle it is usually the code awaiting this close().
        Promise.all([...[...this.producers].map((p) => p.flush()), ...consumers.map((c) => c.idle(this.drainTimeoutMs, false))]),
        new Promise((resolve) => (timer = setTimeout(resolve, this.drainTimeoutMs))),
      ])
      clearTimeout(timer)
      for (const c of consumers) c.flushAcks()
    }
    // Each broker link drains what it holds (its producers' batches, its consumers' settlements) within drainTimeoutMs.
    await this.router?.close()
    await this.link.close()
    this.finish(new SkiffError('CONNECTION_CLOSED', 'the client is closed'), undefined)
    this.emit('close', undefined)
  }

  /** @internal */
  forget(consumer: Consumer): void {
    if (this.consumers.get(consumer.sub) === consumer) this.consumers.delete(consumer.sub)
  }

  /** @internal Emit 'error' when someone listens. */
  report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  private sendSubscribe(conn: Connection, consumer: Consumer, timeoutMs: number): Promise<void> {
    const corr = conn.nextCorr()
    return conn.request(corr, encodeSubscribe({ corr, ...consumer.subscription }), `SUBSCRIBE to ${consumer.topic} as ${consumer.group}`, timeoutMs).then((answer) => {
      const result = decodeOk(answer.body).result as { partitions?: unknown } | undefined
      if (Array.isArray(result?.partitions)) consumer.partitions = result.partitions as number[]
      else if (typeof result?.partitions === 'number') consumer.partitions = Array.from({ length: result.partitions }, (_, i) => i)
    })
  }

  private checkUsable(): void {
    if (this.status === 'closed') throw new SkiffError('CONNECTION_CLOSED', 'the client is closed', this.link.lastError ? { cause: this.link.lastError } : {})
  }

  private onUp(conn: Connection, attempts: number): void {
    const url = formatAddress(conn.address)
    this.emit('connect', { url, welcome: conn.welcome, attempts })
    for (const p of this.producers) p.resumed()
    if (attempts > 0) void this.restore(conn, url, attempts)
  }

  /** Subscribe every consumer again on the new connection (step 5-6 above). */
  private async restore(conn: Connection, url: string, attempts: number): Promise<void> {
    const consumers = [...this.consumers.values()].filter((c) => c.established && !c.closed)
    const served = this.services.restore(conn).catch((err: unknown) => err)
    const outcomes = await Promise.allSettled(consumers.map((c) => this.sendSubscribe(conn, c, this.requestTimeoutMs)))
    const serveFailure = await served
    if (this.link.current !== conn) return // lost again meanwhile: the next connection restores them
    let retry: SkiffError | undefined
    // A SERVE refused for good (say, permissions changed) is reported; a retriable failure reconnects.
    if (serveFailure instanceof Error) {
      if (serveFailure instanceof SkiffError && serveFailure.retriable) retry = serveFailure
      else this.report(serveFailure)
    }
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') return
      const err = o.reason instanceof SkiffError ? o.reason : new SkiffError('INTERNAL', String(o.reason), { cause: o.reason })
      if (err.retriable) {
        retry ??= err
        return
      }
      const c = consumers[i]!
      const failure = new SkiffError(err.code, `subscribing ${c.topic} as ${c.group} again after a reconnect failed: ${err.message}`, { cause: err })
      this.forget(c)
      c.fail(failure)
      this.report(failure)
    })
    if (retry) return conn.abort(new SkiffError('CONNECTION_CLOSED', `subscribing again after a reconnect failed: ${retry.message}`, { cause: retry }))
    this.emit('reconnect', { url, welcome: conn.welcome, attempts })
  }

  private onDown(reason: SkiffError, retrying: boolean): void {
    this.emit('disconnect', reason)
    if (!retrying) return // onEnded follows and reports it
    // A plain loss (socket closed, broker restarting) is what reconnecting is for; a fault is worth an 'error'.
    if (reason.code !== 'CONNECTION_CLOSED') this.report(reason)
    for (const c of [...this.consumers.values()]) {
      if (c.established) c.interrupted()
    }
    for (const p of this.producers) p.interrupted()
  }

  private onEnded(reason: SkiffError): void {
    this.finish(reason, reason)
    this.report(reason)
    this.emit('close', reason)
  }

  /** Fail whatever is left: producers with `err`, consumers end (throwing `consumerErr` once, if given). */
  private finish(err: SkiffError, consumerErr: SkiffError | undefined): void {
    for (const p of this.producers) p.connectionLost(err)
    for (const c of [...this.consumers.values(), ...(this.router?.consumers ?? [])]) c.connectionLost(consumerErr)
    this.consumers.clear()
    void this.router?.close()
  }
}

function positiveMs(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new SkiffError('INVALID_REQUEST', `${name} must be a positive number, got ${v}`)
  return v
}
