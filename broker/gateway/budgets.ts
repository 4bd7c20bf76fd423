/**
 * Broker-wide budgets on what all connections together may make the gateway
 * hold (SECURITY.md, "What a client may cost"). Each per-connection limit
 * alone lets N connections hold N times as much; these bound the sum, and
 * past one the connections holding the most are cut or paused first:
 *
 *   unsent output       sum of socket.writableLength <= maxTotalPendingBytes;
 *                       past it the largest holders are cut as SLOW_CONSUMER
 *   partly received     sum of the frame decoders' heldBytes <= maxTotalPartialFrameBytes;
 *   frames              past it the largest holders are cut with OVERLOADED
 *   unconfirmed         sum of pendingPublishBytes <= maxTotalPublishBytes; past
 *   publishes           it a connection starting a publish stops being read, and
 *                       every connection paused so is read again once the sum is
 *                       back under half
 *
 * 0 turns a budget off. Partial frames and publishes are counted exactly as
 * they change. Output drains on its own (the socket writes it), so it is a
 * running estimate: each send adds its bytes and nothing subtracts, so the
 * estimate is never below the truth. Only when it passes the cap is the
 * exact sum taken, O(connections), and not again before another
 * OUTPUT_RECHECK of the cap has been sent, so a broker near its cap does not
 * count every connection on every send; the sum can overshoot the cap by at
 * most that much (plus one send).
 */
import { SkiffError } from '../../protocol/index.js'
import type { BrokerConfig } from '../config.js'
import type { BudgetTotals } from '../observability/metrics.js'

/** What a budget needs to see of a connection and do to it. */
export interface Budgeted {
  readonly id: number
  readonly closed: boolean
  /** Bytes written to the socket and not yet sent (socket.writableLength). */
  readonly pendingOutput: number
  /** Bytes its frame decoder holds, as last reported to partialFramesChanged. */
  readonly partialFrameBytes: number
  fail(err: SkiffError): void
  /** Stop or resume reading for the broker-wide publish budget (its other reasons to pause stand). */
  pauseForBrokerPublishes(): void
  resumeForBrokerPublishes(): void
}

export type BudgetLimits = Pick<BrokerConfig, 'maxTotalPendingBytes' | 'maxTotalPartialFrameBytes' | 'maxTotalPublishBytes'>

/** Declared beside the gauges that read it (observability needs nothing of the gateway). */
export type { BudgetTotals }

/** After an exact count, the output sum is counted again only once this share of the cap has been sent. */
const OUTPUT_RECHECK = 1 / 32
const MIN_OUTPUT_RECHECK = 1024 * 1024

export class GatewayBudgets {
  private outputEstimate = 0
  /** The estimate right after the last exact count. */
  private outputCounted = 0
  private partialTotal = 0
  private publishTotal = 0
  private readonly pausedForPublishes = new Set<Budgeted>()
  /** True while cutting partial-frame holders: their releases must not start another round. */
  private cuttingPartial = false

  constructor(
    private readonly limits: BudgetLimits,
    private readonly connections: () => Iterable<Budgeted>,
    private readonly warn: (fields: Record<string, unknown>, msg: string) => void = () => {},
  ) {}

  totals(): BudgetTotals {
    return { pendingOutputBytes: this.countOutput().total, partialFrameBytes: this.partialTotal, unconfirmedPublishBytes: this.publishTotal }
  }

  // ---- unsent output ---------------------------------------------------------

  /** `bytes` were just written to a connection's socket. */
  outputWritten(bytes: number): void {
    const cap = this.limits.maxTotalPendingBytes
    if (cap <= 0) return
    this.outputEstimate += bytes
    if (this.outputEstimate <= cap) return
    if (this.outputEstimate - this.outputCounted < Math.max(MIN_OUTPUT_RECHECK, cap * OUTPUT_RECHECK)) return
    const { total, holders } = this.countOutput()
    let left = total
    if (left > cap) {
      holders.sort((a, b) => b.bytes - a.bytes)
      for (const h of holders) {
        if (left <= cap) break
        this.warn({ conn: h.conn.id, pending: h.bytes, total: left, limit: cap }, 'broker-wide output budget: slow consumer disconnected')
        h.conn.fail(new SkiffError('SLOW_CONSUMER', `the broker holds more than maxTotalPendingBytes (${cap}) of unsent output, and this connection the most (${h.bytes} bytes)`))
        left -= h.bytes
      }
    }
    this.outputEstimate = this.outputCounted = left
  }

  private countOutput(): { total: number; holders: { conn: Budgeted; bytes: number }[] } {
    const holders: { conn: Budgeted; bytes: number }[] = []
    let total = 0
    for (const conn of this.connections()) {
      const bytes = conn.closed ? 0 : conn.pendingOutput
      if (bytes === 0) continue
      total += bytes
      holders.push({ conn, bytes })
    }
    return { total, holders }
  }

  // ---- partly received frames --------------------------------------------------

  /** A connection's decoder now holds `delta` bytes more (or fewer) than it last reported. */
  partialFramesChanged(delta: number): void {
    this.partialTotal += delta
    const cap = this.limits.maxTotalPartialFrameBytes
    if (cap <= 0 || this.partialTotal <= cap || this.cuttingPartial) return
    this.cuttingPartial = true
    try {
      const holders = [...this.connections()].filter((c) => !c.closed && c.partialFrameBytes > 0).sort((a, b) => b.partialFrameBytes - a.partialFrameBytes)
      for (const conn of holders) {
        if (this.partialTotal <= cap) break
        this.warn({ conn: conn.id, held: conn.partialFrameBytes, total: this.partialTotal, limit: cap }, 'broker-wide budget for partly received frames: connection cut')
        // Closing reports the connection's release (a negative delta) before fail returns.
        conn.fail(new SkiffError('OVERLOADED', `the broker holds more than maxTotalPartialFrameBytes (${cap}) of partly received frames, and this connection the most (${conn.partialFrameBytes} bytes)`))
      }
    } finally {
      this.cuttingPartial = false
    }
  }

  // ---- unconfirmed publishes ----------------------------------------------------

  /** `conn` handed `bytes` of records to the workers; past the budget it stops being read. */
  publishStarted(conn: Budgeted, bytes: number): void {
    this.publishTotal += bytes
    const cap = this.limits.maxTotalPublishBytes
    if (cap > 0 && this.publishTotal > cap && !conn.closed && !this.pausedForPublishes.has(conn)) {
      this.pausedForPublishes.add(conn)
      conn.pauseForBrokerPublishes()
    }
  }

  /** `bytes` of a publish were confirmed or failed; below half the budget every connection it paused is read again. */
  publishEnded(bytes: number): void {
    this.publishTotal -= bytes
    if (this.pausedForPublishes.size === 0 || this.publishTotal > this.limits.maxTotalPublishBytes / 2) return
    const paused = [...this.pausedForPublishes]
    this.pausedForPublishes.clear()
    for (const conn of paused) conn.resumeForBrokerPublishes()
  }

  /** Connections paused by the publish budget right now (for tests and logs). */
  get pausedForPublishCount(): number {
    return this.pausedForPublishes.size
  }

  /** A connection closed: it waits for nothing any more. Its publishes still end (the workers answer them). */
  connectionGone(conn: Budgeted): void {
    this.pausedForPublishes.delete(conn)
  }
}
