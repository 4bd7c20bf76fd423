/**
 * The HTTP port: `/metrics` (Prometheus text format), `/healthz` (200 while
 * the process can answer at all) and `/readyz` (200 only while the broker is
 * ready: recovery done and every port listening; 503 while starting and once
 * shutdown begins, so a load balancer stops sending before connections drop;
 * in a cluster also while the broker is not registered or leads a partition
 * below its minInSync, the reason in the body: cluster-readiness.ts).
 * `/` is the broker's web page (panel/page.ts) and `/api/*` the JSON it uses
 * (panel/panel-api.ts lists them). GET and HEAD everywhere, POST only for
 * `/api/actions/*`; any other method is 405, unknown paths 404.
 *
 * Who may ask what (http-access.ts): the machine endpoints are open to
 * whoever reaches the port, without a Host check; `/` and `/api/*` check the
 * Host header, and with an auth file need an admin or monitor login; actions
 * need admin and pass a CSRF check. The port listens on loopback unless
 * --http-host says otherwise.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../logger.js'
import type { BrokerMetrics } from './metrics.js'
import { PANEL_HTML } from './panel/page.js'
import { parseOverviewPage } from './overview.js'
import type { PanelApi } from './panel/panel-api.js'

const ACTIONS = '/api/actions/'

export interface HealthState {
  ready: boolean
  /** Besides `ready`: in a cluster, why this broker is not ready now (cluster-readiness.ts), or undefined when it is. */
  unready?: () => string | undefined
}

export class HttpServer {
  private readonly server: http.Server
  /** Set once the gateway is up (Observability.attach); until then `/` and /api are 503. */
  panel: PanelApi | undefined
  /** When this broker began starting: the node view's uptime counts from here. */
  readonly startedAt = Date.now()

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
    this.panel?.close()
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve()
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Split by hand: new URL() would read a path starting with // as a host name.
    const raw = req.url ?? '/'
    const q = raw.indexOf('?')
    const url = { pathname: q < 0 ? raw : raw.slice(0, q), searchParams: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) }
    const action = url.pathname.startsWith(ACTIONS) ? url.pathname.slice(ACTIONS.length) : undefined
    if (action !== undefined ? req.method !== 'POST' : req.method !== 'GET' && req.method !== 'HEAD') {
      return this.reply(res, 405, 'method not allowed\n', { allow: action !== undefined ? 'POST' : 'GET, HEAD' })
    }
    if (url.pathname === '/' || url.pathname === '/api' || url.pathname.startsWith('/api/')) return void this.handlePanel(req, res, url)
    switch (url.pathname) {
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
        if (!this.health.ready) return this.reply(res, 503, 'not ready\n')
        const unready = this.health.unready?.()
        return unready === undefined ? this.reply(res, 200, 'ready\n') : this.reply(res, 503, `not ready: ${unready}\n`)
      default:
        return this.reply(res, 404, 'not found: try /, /api/overview, /metrics, /healthz or /readyz\n')
    }
  }

  /** `/` and `/api/*`: Host check and login first (http-access.ts). */
  private async handlePanel(req: http.IncomingMessage, res: http.ServerResponse, url: { pathname: string; searchParams: URLSearchParams }): Promise<void> {
    const panel = this.panel
    if (!panel) return this.reply(res, 503, 'not ready\n')
    const gone = new AbortController()
    res.once('close', () => gone.abort())
    const json = (status: number, value: unknown) => this.reply(res, status, JSON.stringify(value), { 'content-type': 'application/json' })
    try {
      const found = await panel.access.identify(req, gone.signal)
      if ('refusal' in found) return this.reply(res, found.refusal.status, found.refusal.message, found.refusal.headers)
      const { who } = found
      if (url.pathname.startsWith(ACTIONS)) {
        const answer = await panel.action(url.pathname.slice(ACTIONS.length), req, who)
        return json(answer.status, answer.body)
      }
      switch (url.pathname) {
        case '/':
          return this.reply(res, 200, PANEL_HTML, { 'content-type': 'text/html; charset=utf-8' })
        case '/api/overview': {
          const page = parseOverviewPage(url.searchParams)
          if (typeof page === 'string') return this.reply(res, 400, page + '\n')
          return json(200, await panel.overview(page))
        }
        case '/api/rates': {
          const rates = panel.rates(url.searchParams.get('topics'))
          if (typeof rates === 'string') return this.reply(res, 400, rates + '\n')
          return json(200, rates)
        }
        case '/api/node':
          return json(200, await panel.node())
        case '/api/me':
          return json(200, who)
        default:
          return this.reply(res, 404, 'not found: try /api/overview, /api/rates, /api/node, /api/me or POST /api/actions/<name>\n')
      }
    } catch (err) {
      this.logger.error({ err: (err as Error).stack, path: url.pathname }, 'panel request failed')
      this.reply(res, 500, 'failed\n')
    }
  }

  private reply(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    if (res.destroyed || res.headersSent) return
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers, 'content-length': Buffer.byteLength(body) })
    res.end(res.req.method === 'HEAD' ? undefined : body)
  }
}
