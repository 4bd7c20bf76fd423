/**
 * The client's link to the broker: it keeps one open Connection to one of the
 * configured addresses and, when that connection is lost, opens another,
 * waiting between attempts by the reconnect policy (backoff.ts) and rotating
 * through the addresses. Producers, consumers and admin calls never hold a
 * Connection of their own: they ask the link for the current one (`current`),
 * or wait for it (`ready`), so a reconnect swaps it under them.
 *
 * Decisions written down here:
 * - The first connect tries every address once, in order, and fails with the
 *   last error if none answers: a wrong URL or a broker that is not running
 *   should fail `connect()` fast, not retry in silence. Only a connection
 *   that was up is retried without end.
 * - After a loss, attempt n goes to the address after the one of attempt
 *   n-1 (the lost connection's address counts as attempt 0), so with a list
 *   the client moves on from a broker that just went away.
 * - A handshake refused with UNAUTHORIZED or UNSUPPORTED_VERSION ends the
 *   retrying: no number of attempts fixes a wrong token or an old client.
 *   Everything else (refused, reset, TIMEOUT, a broker shutting down) is
 *   retried.
 * - The retry timer is not unref'd: a client that is reconnecting keeps the
 *   process alive, as a connected one does. close() stops it.
 */
import {
  DEFAULT_MAX_FRAME,
  SkiffError,
  isSkiffError,
  type DeliverFrame,
  type RequestFrame,
  type Welcome,
  AUTH_TIMEOUT,
} from '../protocol/index.js'
import { backoffDelay, type ReconnectPolicy } from './backoff.js'
import { Connection, type ConnectionHooks, type ConnectionOptions } from './connection.js'
import { formatAddress, type BrokerAddress } from './url.js'

/**
 * Where the client stands: `connecting` before the first connection,
 * `connected`, `reconnecting` after a loss (requests wait, publishes queue),
 * `closed` once close() was called or the client gave up.
 */
export type ClientStatus = 'connecting' | 'connected' | 'reconnecting' | 'closed'

/** What producers, consumers and admin calls need from the client's connection. */
export interface ConnectionSource {
  /** The open connection, or undefined while (re)connecting or closed. */
  readonly current: Connection | undefined
  /** The largest frame the broker accepts, from the latest WELCOME. */
  readonly maxFrame: number
  /** The client's requestTimeoutMs. */
  readonly requestTimeoutMs: number
  /** Why the last connection (or connection attempt) failed, if one did. */
  readonly lastError: SkiffError | undefined
  /** What a publish that times out without `current` was waiting for (default "not connected"). */
  readonly waitLabel?: string
  /**
   * The open connection, waiting up to `timeoutMs` for a reconnect: rejects
   * with TIMEOUT when none comes in time, CONNECTION_CLOSED once the client
   * is closed.
   */
  ready(timeoutMs: number, what: string): Promise<Connection>
}

/** Facts about a reconnect attempt about to be made. */
export interface RetryInfo {
  /** 1 for the first attempt after a loss. */
  attempt: number
  /** How long the client waits before this attempt. */
  delayMs: number
  /** The broker URL this attempt goes to. */
  url: string
  /** Why the previous connection or attempt failed. */
  error: SkiffError
}

/** What the link tells the client. */
export interface LinkListener {
  /** A connection is open: the first (`attempts` 0) or one after a loss. */
  up(conn: Connection, attempts: number): void
  /** The open connection was lost; `retrying` tells whether a reconnect follows. */
  down(reason: SkiffError, retrying: boolean): void
  /** A reconnect attempt is scheduled. */
  retrying(info: RetryInfo): void
  /** The link stopped for good (reconnect off, gave up). Not called after close(). */
  ended(reason: SkiffError): void
  deliver(d: DeliverFrame): void
  /** A REQUEST for a topic this client serves, with the connection to reply on. */
  request?(r: RequestFrame, conn: Connection): void
  unsolicitedError(err: SkiffError, corr: number): void
  connectionError(err: SkiffError): void
}

interface ReadyWaiter {
  resolve(conn: Connection): void
  reject(err: SkiffError): void
  timer: NodeJS.Timeout
}

const FINAL_HANDSHAKE_ERRORS = new Set(['UNAUTHORIZED', 'UNSUPPORTED_VERSION'])

/**
 * Refused credentials and no common version end the client; an UNAUTHORIZED
 * for a HELLO that came too late (the network stalled past the broker's auth
 * timeout: details.reason AUTH_TIMEOUT) is tried again like any lost link.
 */
function isFinal(err: SkiffError): boolean {
  return FINAL_HANDSHAKE_ERRORS.has(err.code) && err.details?.reason !== AUTH_TIMEOUT
}

/** Keeps one open connection to one of the addresses, reconnecting by the policy. */
export class Link implements ConnectionSource {
  status: ClientStatus = 'connecting'
  current: Connection | undefined
  welcome: Welcome | undefined
  lastError: SkiffError | undefined
  /** Index of the address of the current connection or of the last attempt. */
  private cursor = 0
  private attempt = 0
  private retryTimer: NodeJS.Timeout | undefined
  private closing = false
  private readonly waiters = new Set<ReadyWaiter>()

  constructor(
    private readonly addresses: readonly BrokerAddress[],
    private readonly opts: ConnectionOptions,
    private readonly policy: ReconnectPolicy | undefined,
    private readonly listener: LinkListener,
  ) {}

  get maxFrame(): number {
    return this.welcome?.maxFrame ?? DEFAULT_MAX_FRAME
  }

  get requestTimeoutMs(): number {
    return this.opts.requestTimeoutMs
  }

  /** The first connect: each address once, in order. Rejects with the last failure. */
  async start(): Promise<void> {
    const failures: string[] = []
    for (let i = 0; i < this.addresses.length; i++) {
      this.cursor = i
      try {
        this.up(await this.open(i), 0)
        return
      } catch (err) {
        this.lastError = asSkiffError(err)
        failures.push(`${formatAddress(this.addresses[i]!)}: ${this.lastError.message}`)
        if (isFinal(this.lastError)) break
      }
    }
    this.status = 'closed'
    const last = this.lastError!
    if (failures.length === 1) throw last
    throw new SkiffError(last.code, `cannot connect to any broker: ${failures.join('; ')}`, { cause: last })
  }

  ready(timeoutMs: number, what: string): Promise<Connection> {
    if (this.current?.isOpen) return Promise.resolve(this.current)
    if (this.status === 'closed') return Promise.reject(new SkiffError('CONNECTION_CLOSED', `${what}: the client is closed`, this.lastError ? { cause: this.lastError } : {}))
    return new Promise((resolve, reject) => {
      const w: ReadyWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w)
          const why = this.lastError ? `: ${this.lastError.message}` : ''
          reject(new SkiffError('TIMEOUT', `${what}: not connected to the broker within ${timeoutMs} ms${why}`, this.lastError ? { cause: this.lastError } : {}))
        }, timeoutMs),
      }
      this.waiters.add(w)
    })
  }

  /** Stop for good: no more attempts, close the current connection (pending requests reject). */
  async close(): Promise<void> {
    this.closing = true
    this.status = 'closed'
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    this.rejectWaiters(new SkiffError('CONNECTION_CLOSED', 'the client is closed'))
    const conn = this.current
    this.current = undefined
    await conn?.close()
  }

  private async open(index: number): Promise<Connection> {
    let conn: Connection | undefined
    const hooks: ConnectionHooks = {
      deliver: (d) => this.listener.deliver(d),
      request: (r) => {
        if (conn) this.listener.request?.(r, conn)
      },
      unsolicitedError: (err, corr) => this.listener.unsolicitedError(err, corr),
      connectionError: (err) => this.listener.connectionError(err),
      closed: (reason) => {
        if (conn !== undefined && conn === this.current) this.lost(reason)
      },
    }
    conn = await Connection.open(this.addresses[index]!, this.opts, hooks)
    // The socket may have died between WELCOME and this continuation.
    if (!conn.isOpen) throw new SkiffError('CONNECTION_CLOSED', `the connection to ${formatAddress(this.addresses[index]!)} closed right after the handshake`)
    return conn
  }

  private up(conn: Connection, attempts: number): void {
    this.current = conn
    this.welcome = conn.welcome
    this.status = 'connected'
    this.attempt = 0
    const waiters = [...this.waiters]
    this.waiters.clear()
    for (const w of waiters) {
      clearTimeout(w.timer)
      w.resolve(conn)
    }
    this.listener.up(conn, attempts)
  }

  /** The current connection is gone (reason undefined: we closed it). */
  private lost(reason: SkiffError | undefined): void {
    this.current = undefined
    if (this.closing) return
    const err = reason ?? new SkiffError('CONNECTION_CLOSED', 'the connection was closed')
    this.lastError = err
    const retrying = this.policy !== undefined
    this.listener.down(err, retrying)
    if (!retrying) return this.end(err)
    this.status = 'reconnecting'
    this.attempt = 0
    this.scheduleAttempt()
  }

  private scheduleAttempt(): void {
    if (this.closing) return
    const policy = this.policy!
    this.attempt++
    if (this.attempt > policy.maxAttempts) {
      const last = this.lastError!
      return this.end(new SkiffError('CONNECTION_CLOSED', `gave up reconnecting after ${policy.maxAttempts} attempts: ${last.message}`, { cause: last }))
    }
    this.cursor = (this.cursor + 1) % this.addresses.length
    const index = this.cursor
    const delayMs = backoffDelay(policy, this.attempt)
    this.listener.retrying({ attempt: this.attempt, delayMs, url: formatAddress(this.addresses[index]!), error: this.lastError! })
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      void this.tryOnce(index)
    }, delayMs)
  }

  private async tryOnce(index: number): Promise<void> {
    let conn: Connection
    try {
      conn = await this.open(index)
    } catch (err) {
      if (this.closing) return
      this.lastError = asSkiffError(err)
      if (isFinal(this.lastError)) return this.end(this.lastError)
      return this.scheduleAttempt()
    }
    if (this.closing) {
      await conn.close()
      return
    }
    this.up(conn, this.attempt)
  }

  private end(reason: SkiffError): void {
    this.status = 'closed'
    this.closing = true
    this.rejectWaiters(new SkiffError('CONNECTION_CLOSED', `the client is closed: ${reason.message}`, { cause: reason }))
    this.listener.ended(reason)
  }

  private rejectWaiters(err: SkiffError): void {
    const waiters = [...this.waiters]
    this.waiters.clear()
    for (const w of waiters) {
      clearTimeout(w.timer)
      w.reject(err)
    }
  }
}

function asSkiffError(err: unknown): SkiffError {
  if (isSkiffError(err)) return err
  return new SkiffError('CONNECTION_CLOSED', (err as Error)?.message ?? String(err), { cause: err })
}
