/**
 * The HTTP port: `/metrics` (Prometheus text format), `/healthz` (200 while
 * the process can answer at all) and `/readyz` (200 only while the broker is
 * ready: recovery done and every port listening; 503 while starting and once
 * shutdown begins, so a load balancer stops sending before connections drop).
 * `/` is the broker's read-only web page (panel/page.ts) and `/api/overview`
 * the JSON it polls (overview.ts).
 * GET and HEAD only; anything else is 405, unknown paths 404.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../logger.js'
import type { BrokerMetrics } from './metrics.js'
import { PANEL_HTML } from './panel/page.js'

export interface HealthState {
  ready: boolean
}

export class HttpServer {
  private readonly server: http.Server
  /** Set once the gateway is up (Observability.attach); until then /api/overview is 503. */
  overview: (() => Promise<unknown>) | undefined

  constructor(
    private readonly metrics: BrokerMetrics,
    private readonly health: HealthState,
    private readonly logger: Logger,
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res))
    // A scrape is one short request; do not let idle keep-alive sockets hold shutdown up.
    this.server.keepAliveTimeout = 5_000
    this.server.headersTimeout = 10_000
    this.server.requestTimeout = 30_000
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        this.server.on('error', (err) => this.logger.error({ err: err.message }, 'http listener error'))
        resolve(this.server.address() as AddressInfo)
      })
    })
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve()
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return this.reply(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' })
    }
    switch (path) {
      case '/metrics':
        this.metrics.scrape().then(
          (text) => this.reply(res, 200, text, { 'content-type': this.metrics.contentType }),
          (err: Error) => {
            this.logger.error({ err: err.stack }, 'metrics scrape failed')
            this.reply(res, 500, 'metrics failed\n')
          },
        )
        return
      case '/healthz':
        return this.reply(res, 200, 'ok\n')
      case '/readyz':
        return this.health.ready ? this.reply(res, 200, 'ready\n') : this.reply(res, 503, 'not ready\n')
      case '/':
        return this.reply(res, 200, PANEL_HTML, { 'content-type': 'text/html; charset=utf-8' })
      case '/api/overview':
        if (!this.overview) return this.reply(res, 503, 'not ready\n')
        this.overview().then(
          (o) => this.reply(res, 200, JSON.stringify(o), { 'content-type': 'application/json' }),
          (err: Error) => {
            this.logger.error({ err: err.stack }, 'overview failed')
            this.reply(res, 500, 'overview failed\n')
          },
        )
        return
      default:
        return this.reply(res, 404, 'not found: try /, /api/overview, /metrics, /healthz or /readyz\n')
    }
  }

  private reply(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers, 'content-length': Buffer.byteLength(body) })
    res.end(res.req.method === 'HEAD' ? undefined : body)
  }
}
