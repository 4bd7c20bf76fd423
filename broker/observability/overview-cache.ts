/**
 * Overview pages answered from a short-lived cache, so a panel left open in
 * several browsers (each polling every second) or a burst of requests costs
 * one build per page per second, not one per request.
 *
 * Decisions written down here:
 * - A page is at most MAX_AGE_MS old: a request within a second of the start
 *   of the previous build of the same page gets that build's answer, finished
 *   or still running (concurrent requests share one build).
 * - One build at a time: builds of different pages wait for each other, so a
 *   client asking for many pages at once adds latency to its own answers, not
 *   CPU to the gateway.
 * - At most MAX_PAGES pages are kept (least recently built dropped first), so
 *   asking for every offset cannot grow the cache. A failed build is not kept.
 */
import type { Overview, OverviewPage } from './overview.js'

const MAX_AGE_MS = 1000
const MAX_PAGES = 32

interface Entry {
  startedAt: number
  answer: Promise<Overview>
}

export class OverviewCache {
  private readonly pages = new Map<string, Entry>()
  /** The end of the build queued last. */
  private tail: Promise<unknown> = Promise.resolve()
  /** Builds started (for tests and the report of what caching saves). */
  builds = 0

  constructor(
    private readonly build: (page: OverviewPage) => Promise<Overview>,
    private readonly now: () => number = Date.now,
  ) {}

  get(page: OverviewPage): Promise<Overview> {
    const key = `${page.offset},${page.limit},${page.connectionOffset},${page.connectionLimit}`
    const now = this.now()
    const cached = this.pages.get(key)
    if (cached && now - cached.startedAt <= MAX_AGE_MS) return cached.answer
    const answer = this.tail.then(() => {
      this.builds++
      return this.build(page)
    })
    this.tail = answer.catch(() => {})
    const entry = { startedAt: now, answer }
    this.pages.delete(key)
    if (this.pages.size >= MAX_PAGES) this.pages.delete(this.pages.keys().next().value!)
    this.pages.set(key, entry)
    answer.catch(() => {
      if (this.pages.get(key) === entry) this.pages.delete(key)
    })
    return answer
  }
}
