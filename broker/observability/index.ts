/**
 * Observability for one broker: the metrics registry, the HTTP port
 * (/metrics, /healthz, /readyz, the panel) and the StatsD pusher. UDP
 * telemetry ingest is the gateway's (gateway/udp/); it counts its datagrams
 * in the metrics here.
 *
 * Lifecycle, driven by startBroker:
 *   start()   registry and HTTP up first, not ready (/readyz 503 while recovering)
 *   attach()  once the TCP listener (and UDP) are up: StatsD starts, then ready
 *   drain()   shutdown begins: not ready
 *   close()   StatsD's last push, HTTP down
 */
import { DEFAULTS, type BrokerConfig } from '../config.js'
import type { Logger } from '../logger.js'
import type { BrokerView } from './broker-view.js'
import { BrokerMetrics } from './metrics.js'
import { HttpServer, type HealthState } from './http-server.js'
import { PanelApi } from './panel/panel-api.js'
import { StatsdPusher } from './statsd.js'
import { parseHostPort } from './config-check.js'
import { clusterUnready } from './cluster-readiness.js'
import type { GaugeSnapshot, MetricDeltas } from './worker-metrics.js'

export { BrokerMetrics } from './metrics.js'
export type { BrokerView } from './broker-view.js'

export class Observability {
  httpPort = 0
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

  /** The protocol ports listen: start StatsD, then report ready. */
  attach(broker: BrokerView): void {
    const { config, logger } = this
    this.metrics.connectionCount = () => broker.connections.size
    this.metrics.loginStats = () => broker.auth.stats()
    this.metrics.clusterStatus = () => broker.cluster()
    this.metrics.replication = () => broker.replication()
    this.health.unready = () => clusterUnready(broker.cluster())
    this.http.panel = new PanelApi(broker, this.metrics, this.http.startedAt)
    if (config.statsd) {
      this.statsd = new StatsdPusher(this.metrics, parseHostPort(config.statsd)!, logger)
      this.statsd.start(config.statsdIntervalS)
    }
    this.health.ready = true
  }

  /** Shutdown begins: not ready any more. */
  drain(): void {
    this.health.ready = false
  }

  async close(): Promise<void> {
    this.health.ready = false
    await this.statsd?.close()
    await this.http.close()
  }
}
