/**
 * StatsD push: every interval the broker's own counters and gauges (the
 * skiff_* families; not histograms, not the process metrics) are sent to a
 * StatsD server as lines, several per datagram:
 *
 *   skiff.messages_published,topic=orders:42|c      counter: increase since the last push
 *   skiff.consumer_lag,topic=orders,group=billing,partition=0:7|g
 *
 * Names drop the `skiff_` prefix's underscore for a dot and the `_total`
 * suffix; labels ride as InfluxDB-style tags after the name, which both
 * Telegraf's statsd input and Prometheus's statsd_exporter read without
 * extra configuration. Counters that did not move are not sent. Topic and
 * group names cannot hold `,` `=` `:` `|` or spaces, so no escaping is needed.
 */
import dgram from 'node:dgram'
import net from 'node:net'
import type { Logger } from '../logger.js'
import type { BrokerMetrics } from './metrics.js'

/** Keep each datagram under a typical path MTU so none is fragmented. */
export const STATSD_DATAGRAM_BYTES = 1400

export class StatsdPusher {
  private readonly socket: dgram.Socket
  private readonly last = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  private warned = false

  constructor(
    private readonly metrics: BrokerMetrics,
    private readonly target: { host: string; port: number },
    private readonly logger: Logger,
  ) {
    this.socket = dgram.createSocket(net.isIPv6(target.host) ? 'udp6' : 'udp4')
    this.socket.on('error', (err) => this.sendFailed(err))
  }

  start(intervalS: number): void {
    this.timer = setInterval(() => void this.push(), intervalS * 1000)
    this.timer.unref()
  }

  /** The lines for everything that changed since the previous call. */
  async lines(): Promise<string[]> {
    const out: string[] = []
    for (const m of await this.metrics.registry.getMetricsAsJSON()) {
      // prom-client types `type` as an enum but sets the strings 'counter', 'gauge', ...
      const type = String(m.type)
      if (!m.name.startsWith('skiff_') || (type !== 'counter' && type !== 'gauge')) continue
      const name = 'skiff.' + m.name.slice('skiff_'.length).replace(/_total$/, '')
      for (const v of m.values) {
        const tags = Object.entries(v.labels).map(([k, x]) => `,${k}=${x}`).join('')
        const series = name + tags
        if (type === 'counter') {
          const delta = v.value - (this.last.get(series) ?? 0)
          this.last.set(series, v.value)
          if (delta > 0) out.push(`${series}:${delta}|c`)
        } else {
          out.push(`${series}:${v.value}|g`)
        }
      }
    }
    return out
  }

  async push(): Promise<void> {
    let lines: string[]
    try {
      lines = await this.lines()
    } catch (err) {
      this.logger.error({ err: (err as Error).stack }, 'statsd: reading metrics failed')
      return
    }
    const sends: Promise<void>[] = []
    for (const packet of pack(lines, STATSD_DATAGRAM_BYTES)) {
      sends.push(
        new Promise((resolve) =>
          this.socket.send(packet, this.target.port, this.target.host, (err) => {
            if (err) this.sendFailed(err)
            resolve()
          }),
        ),
      )
    }
    await Promise.all(sends)
  }

  /** Push once more (the last interval's counts), then stop. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.push()
    await new Promise<void>((resolve) => this.socket.close(() => resolve()))
  }

  private sendFailed(err: Error): void {
    if (this.warned) return
    this.warned = true
    this.logger.warn({ err: err.message, target: `${this.target.host}:${this.target.port}` }, 'statsd: sending failed (reported once)')
  }
}

/** Lines joined by newlines into datagrams of at most `max` bytes (a longer line goes alone). */
export function pack(lines: string[], max: number): Buffer[] {
  const out: Buffer[] = []
  let cur = ''
  for (const line of lines) {
    if (cur !== '' && cur.length + 1 + line.length > max) {
      out.push(Buffer.from(cur))
      cur = ''
    }
    cur = cur === '' ? line : `${cur}\n${line}`
  }
  if (cur !== '') out.push(Buffer.from(cur))
  return out
}
