/** The reconnect policy: full-jitter bounds, doubling, the cap, and option checks. */
import t from 'tap'
import { DEFAULT_RECONNECT, backoffDelay, reconnectPolicy } from '../../clients/backoff.js'

t.test('defaults: on, 100 ms doubling to 5 s, never giving up', async (t) => {
  t.same(reconnectPolicy(undefined), { initialDelayMs: 100, maxDelayMs: 5000, maxAttempts: Infinity })
  t.same(reconnectPolicy(true), DEFAULT_RECONNECT)
  t.equal(reconnectPolicy(false), undefined)
  t.same(reconnectPolicy({ maxAttempts: 3 }), { initialDelayMs: 100, maxDelayMs: 5000, maxAttempts: 3 })
  t.same(reconnectPolicy({ initialDelayMs: undefined }), DEFAULT_RECONNECT, 'undefined fields keep their default')
})

t.test('full jitter: a random delay between 0 and the doubling bound, capped', async (t) => {
  const p = reconnectPolicy({ initialDelayMs: 100, maxDelayMs: 1000 })!
  const top = () => 0.999999
  t.same([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(p, n, top)), [99, 199, 399, 799, 999, 999])
  t.same([1, 2, 10].map((n) => backoffDelay(p, n, () => 0)), [0, 0, 0], 'the whole delay is random, down to 0')
  t.equal(backoffDelay(p, 3, () => 0.5), 200)
  t.equal(backoffDelay(p, 100_000, top), 999, 'huge attempt numbers stay capped')
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(p, 1 + (i % 8))
    t.ok(d >= 0 && d <= 1000 && Number.isInteger(d), `delay ${d} in range`)
  }
})

t.test('bad options are refused with INVALID_REQUEST', async (t) => {
  for (const bad of [{ initialDelayMs: -1 }, { maxDelayMs: 10, initialDelayMs: 50 }, { maxAttempts: 0 }, { maxAttempts: 1.5 }, { initialDelayMs: NaN }]) {
    t.throws(() => reconnectPolicy(bad), { name: 'SkiffError', codeName: 'INVALID_REQUEST' }, JSON.stringify(bad))
  }
})
