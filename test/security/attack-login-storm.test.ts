/**
 * Issue 13, item 1 (login storm): about 300 HELLOs with random tokens kept a
 * tokenHash user out for 45 s and pinned both cores, because every unknown
 * token cost one scrypt per hashed user and queued checks kept running after
 * their socket closed.
 *
 * Here a real broker with an auth file takes the same storm from 127.0.0.2
 * (half the HELLOs name no user, half name the victim's user with a wrong
 * token, every fifth hangs up right after sending HELLO), then a sustained
 * one from 127.0.0.2 and 127.0.0.3, while the victim (127.0.0.1, its user
 * named, the right token) logs in and keeps working. Asserted:
 * - the victim logs in within 2 s of the storm's last HELLO being sent. Its
 *   login waits for the broker to accept and answer the storm's 300
 *   connections (in this process, beside the attacker's own sockets: about
 *   0.2 s alone, up to 0.85 s measured with another test file running on the
 *   same 2 cores) and behind at most 4 hash checks of the attacker's address;
 *   before the change it was refused (every scrypt place taken);
 * - the victim's PING, publish confirm and delivery p99 stay within 250 ms
 *   during the sustained storm (250 ms because CI runs two test files at once
 *   on 2 cores; the soak in bench/ holds the 100 ms line);
 * - no attacker gets in; the attacker address is refused with
 *   TOO_MANY_CONNECTIONS naming maxFailedLoginsPerIp once over its rate;
 * - scrypt runs are bounded per address (at most maxFailedLoginsPerIp plus 4
 *   in flight, plus the refill during the test), far below one per HELLO;
 * - a check queued behind others whose socket closed never runs
 *   (skiff_login_hash_checks_total{outcome="dropped"} counts it, "run" not);
 * - the process RSS (broker and test share it) grows by at most 100 MiB.
 *
 * The victim's token hash is made at a lower scrypt cost than the default
 * (ln=12 instead of 15) to keep the test fast; the occupying user of the
 * cancellation case keeps ln=15 so its checks last long enough to queue
 * others behind them.
 */
import t from 'tap'
import crypto from 'node:crypto'
import { SUPPORTED_VERSIONS, encodeHello } from '../../protocol/index.js'
import { connect } from '../../clients/index.js'
import { hashToken } from '../../broker/auth/index.js'
import { RawPeer, authBroker, rssMiB, welcomed } from './helpers.js'
import { startVictim, assertServed } from './victim.js'
import { scrape, value } from '../observability/scrape.js'

const VICTIM_TOKEN = 'victim-token-0123456789abcdef'
const STORM = 300
const WAVES = 15
const WAVE_EVERY_MS = 200
const PER_WAVE = 20
const FAILED_PER_MINUTE = 30
const LOGIN_WITHIN_MS = 2000
const RSS_GROWTH_MIB = 100

const randomToken = () => crypto.randomBytes(32).toString('base64url')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** One attacker HELLO from `address`; hangs up at once when `hangUp`. The peer, once the broker closed it (bounded). */
async function attempt(port: number, address: string, user: string | undefined, hangUp = false): Promise<RawPeer> {
  const p = await RawPeer.connect(port, address)
  p.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'storm', token: randomToken(), user }))
  if (hangUp) p.end()
  return p
}

function refusals(peers: RawPeer[]): { limited: number; unnamed: number; welcomed: number } {
  let limited = 0
  let unnamed = 0
  for (const p of peers) {
    for (const e of p.errors()) {
      if (e.name === 'TOO_MANY_CONNECTIONS' && e.details?.limit === 'maxFailedLoginsPerIp') limited++
      if (e.name === 'UNAUTHORIZED' && /must also be named in HELLO/.test(e.message)) unnamed++
    }
  }
  return { limited, unnamed, welcomed: peers.filter(welcomed).length }
}

t.test('login storm: the hashed-token victim logs in and is served; the storm costs bounded scrypt', async (t) => {
  const { broker } = await authBroker(
    t,
    [
      { name: 'billing', tokenHash: await hashToken(VICTIM_TOKEN, { ln: 12, r: 8, p: 1 }), publish: ['victim.>'], subscribe: ['victim.>'] },
      { name: 'slow', tokenHash: await hashToken(randomToken(), { ln: 15, r: 8, p: 1 }), publish: ['slow.>'] },
    ],
    { maxFailedLoginsPerIp: FAILED_PER_MINUTE, httpPort: 0 },
  )
  const port = broker.port
  const baselineRss = rssMiB()
  let peakRss = baselineRss
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMiB())), 50)
  t.teardown(() => clearInterval(sampler))

  // The storm: every HELLO sent before the victim tries.
  const storm = await Promise.all(Array.from({ length: STORM }, (_, i) => attempt(port, '127.0.0.2', i % 2 === 0 ? undefined : 'billing', i % 5 === 4)))
  const started = performance.now()
  const login = await connect(`skiff://127.0.0.1:${port}`, { name: 'victim-login', user: 'billing', token: VICTIM_TOKEN, reconnect: false, connectTimeoutMs: 10_000 }).then(
    (c) => ({ ms: performance.now() - started, client: c, error: undefined }),
    (err: Error) => ({ ms: performance.now() - started, client: undefined, error: err.message }),
  )
  t.ok(login.client, 'the victim logs in during the storm', { error: login.error })
  t.ok(login.ms <= LOGIN_WITHIN_MS, `the victim's login took ${login.ms.toFixed(0)} ms (bound ${LOGIN_WITHIN_MS} ms)`)
  await login.client?.close()

  // Sustained: waves from the drained address and from a fresh one while the victim works.
  const victim = await startVictim(port, { user: 'billing', token: VICTIM_TOKEN })
  const sustained: RawPeer[] = []
  for (let w = 0; w < WAVES; w++) {
    const wave = Array.from({ length: PER_WAVE }, (_, i) => attempt(port, i % 2 === 0 ? '127.0.0.2' : '127.0.0.3', i % 4 < 2 ? undefined : 'billing'))
    sustained.push(...(await Promise.all(wave)))
    await sleep(WAVE_EVERY_MS)
  }
  const stats = await victim.stop()
  assertServed(t, stats, { p99Ms: 250 })

  const all = [...storm, ...sustained]
  await Promise.all(all.map((p) => p.waitClosed(5000)))
  t.ok(
    all.every((p) => p.closed),
    'every attacker connection was closed',
  )
  const seen = refusals(all)
  t.equal(seen.welcomed, 0, 'no attacker got in')
  t.ok(seen.unnamed > 0, `a token naming no user is refused at once, saying to name the user (${seen.unnamed})`)
  t.ok(seen.limited > 0, `over the failed-login rate the attacker gets TOO_MANY_CONNECTIONS naming maxFailedLoginsPerIp (${seen.limited})`)

  const s = await scrape(broker.httpPort)
  const runs = value(s, 'skiff_login_hash_checks_total', { outcome: 'run' })
  // Per attacker address: its bucket, the 4 in flight when it emptied, and ~10 s of refill; plus the victim's first login.
  const bound = 1 + 2 * (FAILED_PER_MINUTE + 4 + FAILED_PER_MINUTE / 6)
  t.ok(runs <= bound, `${runs} scrypt checks ran for ${all.length} attacker HELLOs (bound ${bound})`)
  clearInterval(sampler)
  peakRss = Math.max(peakRss, rssMiB())
  t.ok(peakRss - baselineRss <= RSS_GROWTH_MIB, `RSS grew by ${(peakRss - baselineRss).toFixed(0)} MiB during the storm (bound ${RSS_GROWTH_MIB} MiB)`)
  t.comment(`victim login ${login.ms.toFixed(0)} ms; ping p99 ${stats.ping.p99.toFixed(1)} ms, confirm p99 ${stats.confirm.p99.toFixed(1)} ms, deliver p99 ${stats.deliver.p99.toFixed(1)} ms; scrypt runs ${runs}; RSS ${baselineRss.toFixed(0)} -> peak ${peakRss.toFixed(0)} MiB`)

  t.test("a queued check whose socket closed never runs", async (t) => {
    const before = await scrape(broker.httpPort)
    // Four slow checks from one address hold both scrypt slots and two waiting places...
    const holders = await Promise.all([1, 2, 3, 4].map(() => attempt(port, '127.0.0.5', 'slow')))
    await sleep(30)
    // ...so these four queue behind them, and their clients hang up at once.
    await Promise.all([1, 2, 3, 4].map(() => attempt(port, '127.0.0.4', 'slow', true)))
    await Promise.all(holders.map((p) => p.waitClosed(10_000)))
    await sleep(100)
    const after = await scrape(broker.httpPort)
    const delta = (outcome: string) => value(after, 'skiff_login_hash_checks_total', { outcome }) - value(before, 'skiff_login_hash_checks_total', { outcome })
    t.equal(delta('run'), 4, 'only the four whose clients stayed ran')
    t.equal(delta('dropped'), 4, 'the four whose clients hung up were dropped unrun')
    t.match(holders[0]!.errors(), [{ name: 'UNAUTHORIZED', message: 'the token is not valid' }], 'the ones that ran were refused as usual')
  })
})
