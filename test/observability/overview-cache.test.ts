/**
 * The overview cache (broker/observability/overview-cache.ts) on a clock the
 * test moves, with a build function that counts its calls: concurrent
 * requests share one build, an answer is reused for at most 1 s, builds run
 * one at a time, a failed build is not kept, and at most 32 pages are kept.
 * (The cache against a live broker is covered by test/security/attack-http-open.test.ts.)
 */
import t from 'tap'
import { OverviewCache } from '../../broker/observability/overview-cache.js'
import type { Overview, OverviewPage } from '../../broker/observability/overview.js'

const page = (offset = 0): OverviewPage => ({ offset, limit: 100, connectionOffset: 0, connectionLimit: 100 })

function setup() {
  let now = 0
  let running = 0
  let most = 0
  let fail = false
  const built: number[] = []
  const cache = new OverviewCache(
    async (p) => {
      running++
      most = Math.max(most, running)
      await new Promise((r) => setTimeout(r, 5))
      running--
      built.push(p.offset)
      if (fail) throw new Error('worker gone')
      return { offset: p.offset, time: now } as unknown as Overview
    },
    () => now,
  )
  return { cache, built, most: () => most, advance: (ms: number) => (now += ms), failNext: (v: boolean) => (fail = v) }
}

t.test('concurrent requests for one page share one build; within 1 s the answer is reused', async (t) => {
  const s = setup()
  const answers = await Promise.all(Array.from({ length: 10 }, () => s.cache.get(page())))
  t.equal(s.built.length, 1, 'ten requests, one build')
  t.ok(answers.every((a) => a === answers[0]), 'the same answer')
  s.advance(1000)
  await s.cache.get(page())
  t.equal(s.built.length, 1, '1 s later: still that answer')
  s.advance(1)
  await s.cache.get(page())
  t.equal(s.built.length, 2, 'older than 1 s: built again')
})

t.test('builds of different pages run one at a time', async (t) => {
  const s = setup()
  await Promise.all([0, 100, 200, 300].map((o) => s.cache.get(page(o))))
  t.same(s.built, [0, 100, 200, 300])
  t.equal(s.most(), 1)
})

t.test('a failed build is not kept', async (t) => {
  const s = setup()
  s.failNext(true)
  await t.rejects(s.cache.get(page()), /worker gone/)
  s.failNext(false)
  await s.cache.get(page())
  t.equal(s.built.length, 2, 'the next request builds again')
})

t.test('at most 32 pages are kept', async (t) => {
  const s = setup()
  for (let o = 0; o <= 32; o++) await s.cache.get(page(o))
  await s.cache.get(page(32))
  t.equal(s.built.length, 33, 'the newest is kept')
  await s.cache.get(page(0))
  t.equal(s.built.length, 34, 'the oldest was dropped')
})
