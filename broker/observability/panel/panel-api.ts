/**
 * Everything behind the panel's `/api/*` once the gateway is up: the
 * overview pages (cached), the rate history and its sampler, the node view
 * and the actions. http-server.ts routes to it after the login.
 *
 *   GET  /api/overview        topics, groups, connections (overview.ts)
 *   GET  /api/rates?topics=a,b publish/deliver/ack rates per topic over time (rate-history.ts)
 *   GET  /api/node            version, uptime, memory, disk, workers, fsync (node-info.ts)
 *   GET  /api/me              who is logged in and whether they may act
 *   POST /api/actions/<name>  admin only (action-routes.ts)
 */
import type http from 'node:http'
import type { BrokerView } from '../broker-view.js'
import type { BrokerMetrics } from '../metrics.js'
import { HttpAccess, type PanelUser } from '../http-access.js'
import { buildOverview, type Overview, type OverviewPage } from '../overview.js'
import { OverviewCache } from '../overview-cache.js'
import { RateSampler } from './rate-sampler.js'
import type { RatesAnswer } from './rate-history.js'
import { nodeInfo, type NodeInfo } from './node-info.js'
import { runAction, type ActionReply } from './action-routes.js'

/** The most topics one /api/rates request may name (the page asks for the topics of one overview page). */
export const MAX_RATE_QUERY = 500

export class PanelApi {
  readonly access: HttpAccess
  private readonly overviews: OverviewCache
  private readonly sampler: RateSampler

  constructor(
    private readonly broker: BrokerView,
    metrics: BrokerMetrics,
    private readonly startedAt: number,
  ) {
    this.access = new HttpAccess(broker.auth, broker.config.httpAllowedHosts)
    this.overviews = new OverviewCache((page) => buildOverview(broker, page))
    this.sampler = new RateSampler(metrics.registry)
    this.sampler.start()
  }

  overview(page: OverviewPage): Promise<Overview> {
    return this.overviews.get(page)
  }

  /** `topics` is the query's comma-separated list; absent, every tracked topic. A string answer is what is wrong with it. */
  rates(topics: string | null): RatesAnswer | string {
    if (topics === null) return this.sampler.history.query()
    const names = topics === '' ? [] : [...new Set(topics.split(','))]
    if (names.length > MAX_RATE_QUERY) return `topics: at most ${MAX_RATE_QUERY} names, not ${names.length}`
    return this.sampler.history.query(names)
  }

  node(): Promise<NodeInfo> {
    return nodeInfo(this.broker, this.startedAt)
  }

  action(name: string, req: http.IncomingMessage, who: PanelUser): Promise<ActionReply> {
    return runAction(this.broker, name, req, who)
  }

  close(): void {
    this.sampler.stop()
  }
}
