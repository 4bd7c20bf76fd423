/**
 * The per-address login budget (broker/auth/login-budget.ts) on a clock the
 * test moves: the failed-login token bucket and its refill, the cap on hash
 * checks in flight, IPv4-mapped IPv6 counted as IPv4, and the bound on how
 * many addresses are remembered.
 */
import t from 'tap'
import { LoginBudget, MAX_HASH_CHECKS_PER_IP } from '../../broker/auth/login-budget.js'

function clock() {
  let now = 1_000_000
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

t.test('failed logins: a bucket of maxFailedLoginsPerIp that refills over a minute', async (t) => {
  const c = clock()
  const budget = new LoginBudget(() => 3, 100, c.now)
  for (let i = 0; i < 3; i++) {
    t.doesNotThrow(() => budget.admit('10.0.0.1'), `attempt ${i + 1} is admitted`)
    budget.failed('10.0.0.1')
  }
  t.throws(() => budget.admit('10.0.0.1'), { codeName: 'TOO_MANY_CONNECTIONS', details: { limit: 'maxFailedLoginsPerIp', value: 3, retryAfterMs: 20_000 } }, 'the fourth is refused, saying when to come back')
  t.throws(() => budget.admit('::ffff:10.0.0.1'), { codeName: 'TOO_MANY_CONNECTIONS' }, 'the IPv4-mapped form is the same address')
  t.doesNotThrow(() => budget.admit('10.0.0.2'), 'another address has its own bucket')
  c.advance(19_999)
  t.throws(() => budget.admit('10.0.0.1'), { codeName: 'TOO_MANY_CONNECTIONS' }, 'not before one token has refilled')
  c.advance(1)
  t.doesNotThrow(() => budget.admit('10.0.0.1'), 'one more attempt after 60 s / 3')
  budget.failed('10.0.0.1')
  t.throws(() => budget.admit('10.0.0.1'), { codeName: 'TOO_MANY_CONNECTIONS' }, 'and its failure empties the bucket again')
  c.advance(10 * 60_000)
  budget.failed('10.0.0.1')
  budget.failed('10.0.0.1')
  t.doesNotThrow(() => budget.admit('10.0.0.1'), 'the bucket holds at most its size: after a long pause, 3 failures again')
})

t.test('0 turns the rate off', async (t) => {
  const budget = new LoginBudget(() => 0)
  for (let i = 0; i < 100; i++) budget.failed('10.0.0.1')
  t.doesNotThrow(() => budget.admit('10.0.0.1'))
})

t.test('hash checks in flight: at most 4 per address, given back once each', async (t) => {
  const budget = new LoginBudget(() => 30)
  const releases = Array.from({ length: MAX_HASH_CHECKS_PER_IP }, () => budget.reserveHashCheck('10.0.0.1'))
  t.throws(() => budget.reserveHashCheck('::ffff:10.0.0.1'), { codeName: 'TOO_MANY_CONNECTIONS', details: { limit: 'hashChecksPerIp', value: 4 } })
  t.doesNotThrow(() => budget.reserveHashCheck('10.0.0.2')(), 'another address is not affected')
  releases[0]!()
  releases[0]!() // a second call gives nothing more back
  t.doesNotThrow(() => budget.reserveHashCheck('10.0.0.1'), 'a freed place can be taken')
  t.throws(() => budget.reserveHashCheck('10.0.0.1'), { codeName: 'TOO_MANY_CONNECTIONS' }, 'but only the one that was freed')
})

t.test('an address sweep cannot grow the table past its bound', async (t) => {
  const budget = new LoginBudget(() => 1, 100)
  for (let i = 0; i < 10_000; i++) budget.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
  t.equal(budget.size, 100)
  t.throws(() => budget.admit('10.0.39.15'), { codeName: 'TOO_MANY_CONNECTIONS' }, 'the most recent addresses are remembered')
})
