/**
 * Observability for one broker: the metrics registry, the HTTP port
 * (/metrics, /healthz, /readyz), UDP telemetry ingest and the StatsD pusher.
 *
 * Lifecycle, driven by startBroker:
 *   start()   registry and HTTP up first, not ready (/readyz 503 while recovering)
 *   attach()  once the TCP listener is up: UDP and StatsD start, then ready
 *   drain()   shutdown begins: not ready, UDP stops taking datagrams
 *   close()   StatsD's last push, HTTP down
 */
import type { AddressInfo } from 'node:net'
import { DEFAULTS, type BrokerConfig } from '../config.js'
import type { Logger } from '../logger.js'
import type { GatewayContext } from '../gateway/context.js'
import { BrokerMetrics } from './metrics.js'
import { HttpServer, type HealthState } from './http-server.js'
import { PanelApi } from './panel/panel-api.js'
import { UdpIngest } from './udp-ingest.js'
import { storeInWorkers } from './udp-route.js'
import { StatsdPusher } from './statsd.js'
import { parseHostPort } from './config-check.js'
import type { UdpAuth } from './udp-auth.js'
import type { GaugeSnapshot, MetricDeltas } from './worker-metrics.js'

export { BrokerMetrics } from './metrics.js'
export type { UdpAuth } from './udp-auth.js'

export class Observability {
  httpPort = 0
  udpPort: number | undefined
  private udp: UdpIngest | undefined
  private statsd: StatsdPusher | undefined

  private constructor(
    readonly metrics: BrokerMetrics,
    private readonly http: HttpServer,
    readonly health: HealthState,
    private readonly config: BrokerConfig,
    private readonly logger: Logger,
  ) {}

  static async start(config: BrokerConfig, logger: Logger): Promise<Observability> {
    const metrics = new BrokerMetrics({
      maxMetricTopics: config.maxMetricTopics,
      maxMetricGroups: config.maxMetricGroups,
      warn: (fields, msg) => logger.warn(fields, msg),
    })
    const health: HealthState = { ready: false }
    const http = new HttpServer(metrics, health, logger)
    const obs = new Observability(metrics, http, health, config, logger)
    // A broker on an ephemeral TCP port (tests, several brokers on one host)
    // takes an ephemeral HTTP port too unless one was chosen.
    const port = config.port === 0 && config.httpPort === DEFAULTS.httpPort ? 0 : config.httpPort
    obs.httpPort = (await http.listen(port, config.httpHost || config.host)).port
    return obs
  }

  /** Counts and gauge samples from a worker. */
  onWorkerOp(op: { t: 'metrics'; deltas: MetricDeltas } | { t: 'gauges'; gauges: GaugeSnapshot }): void {
    if (op.t === 'metrics') this.metrics.applyDeltas(op.deltas)
    else this.metrics.applyGauges(op.gauges)
  }

  /** The protocol port listens: start UDP and StatsD, then report ready. */
  async attach(ctx: GatewayContext, tcp: AddressInfo, auth: () => UdpAuth | undefined = () => undefined): Promise<void> {
    const { config, logger } = this
    this.metrics.connectionCount = () => ctx.connections.size
    this.metrics.loginStats = () => ctx.auth.stats()
    this.http.panel = new PanelApi(ctx, this.metrics, this.http.startedAt)
    if (config.udp) {
      const udp = new UdpIngest({ maxDatagram: config.udpMaxDatagram, metrics: this.metrics, logger, store: storeInWorkers(ctx), auth })
      this.udp = udp
      this.udpPort = await bindUdp(udp, config, tcp, logger)
    }
    if (config.statsd) {
      this.statsd = new StatsdPusher(this.metrics, parseHostPort(config.statsd)!, logger)
      this.statsd.start(config.statsdIntervalS)
    }
    this.health.ready = true
  }

  /** Shutdown begins: not ready any more, and no more datagrams. */
  async drain(): Promise<void> {
    this.health.ready = false
    await this.udp?.close()
  }

  async close(): Promise<void> {
    this.health.ready = false
    await this.udp?.close()
    await this.statsd?.close()
    await this.http.close()
  }
}

/**
 * UDP takes the TCP port's number unless udpPort says otherwise. When the TCP
 * port was any free port (0) and that number happens to be taken for UDP, any
 * free UDP port will do: the caller asked for "any" in the first place.
 */
async function bindUdp(udp: UdpIngest, config: BrokerConfig, tcp: AddressInfo, logger: Logger): Promise<number> {
  const port = config.udpPort || tcp.port
  try {
    return await udp.bind(port, tcp.address)
  } catch (err) {
    if (config.udpPort !== 0 || config.port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    const other = await udp.bind(0, tcp.address)
    logger.warn({ tcpPort: tcp.port, udpPort: other }, 'udp: the TCP port number is taken for UDP; telemetry listens on another port')
    return other
  }
}
