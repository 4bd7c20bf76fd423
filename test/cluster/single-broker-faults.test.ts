/**
 * The cluster fault harness against one broker, today: the workload's
 * clients reach the broker only through a fault proxy; while they run, the
 * link is cut twice and stalled once, and the broker is SIGKILLed and
 * restarted once (order and moments drawn from the seed). Then the topic is
 * read back straight from the broker and the checker must find no confirmed
 * record lost, none stored twice, none out of order, every ack at its
 * stored offset, nothing stored or delivered that was never published, and
 * every confirmed record delivered to the group.
 *
 * Seeded: the seed is printed; SKIFF_FAULT_SEED=<seed> replays the fault
 * plan and the keys. Longer runs: SKIFF_FAULT_RUN_MS (default 16000) and
 * SKIFF_FAULT_COUNT (default 4: the two cuts, the stall and the kill; more
 * adds faults drawn from the same three kinds).
 */
import t from 'tap'
import { faultSeed } from './fault-seed.js'
import { BrokerRunner, sleep, tempDir } from '../reliability/harness.js'
import { connect } from '../../clients/index.js'
import { check } from './checker.js'
import { expectClean } from './expect-clean.js'
import { FaultProxy } from './fault-proxy.js'
import { readBack } from './read-back.js'
import { startWorkload } from './workload.js'

const TOPIC = 'faults'
const RUN_MS = Math.max(8000, Number(process.env.SKIFF_FAULT_RUN_MS) || 16_000)
const FAULT_COUNT = Math.max(4, Number(process.env.SKIFF_FAULT_COUNT) || 4)
/** A stall shorter than the clients' request timeout and heartbeat silence: they must ride it out. */
const STALL_MS = 1000


async function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms)))
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

t.test('cuts, a stall and a SIGKILL under load: nothing confirmed is lost, duplicated or reordered', async (t) => {
  const { seed, random } = faultSeed(t)
  const dataDir = tempDir(t, 'cluster-faults')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2', '--no-udp', '--group-commit-ms', '20'] })
  t.teardown(() => broker.kill())
  await broker.start()
  const proxy = await FaultProxy.start({ target: { port: broker.port } })
  t.teardown(() => proxy.close())
  const admin = await connect(broker.url)
  await admin.admin.createTopic(TOPIC, { partitions: 3 })
  await admin.close()

  const w = await startWorkload({
    url: `skiff://127.0.0.1:${proxy.listenPort}`,
    topic: TOPIC,
    producers: 3,
    consumers: 2,
    group: 'billing',
    keys: 6,
    rate: 150,
    durationMs: RUN_MS,
    seed,
    connect: { requestTimeoutMs: 25_000, drainTimeoutMs: 5000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } },
  })
  t.teardown(() => w.close())

  // Four faults in a seeded order, one per slot of the run, each at a seeded moment in its slot.
  const started = Date.now()
  const at = () => `${((Date.now() - started) / 1000).toFixed(1)} s, ${w.confirmed.length} confirmed`
  const faults: Record<string, () => Promise<void>> = {
    cut: async () => {
      proxy.cut()
      await sleep(300 + Math.floor(random() * 700))
      proxy.heal()
    },
    stall: async () => {
      proxy.stall()
      await sleep(STALL_MS)
      proxy.heal()
    },
    kill: async () => {
      await broker.kill()
      await broker.start()
    },
  }
  const plan = ['cut', 'cut', 'stall', 'kill']
  while (plan.length < FAULT_COUNT) plan.push(['cut', 'stall', 'kill'][Math.floor(random() * 3)]!)
  for (let i = plan.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[plan[i], plan[j]] = [plan[j]!, plan[i]!]
  }
  const slotMs = (RUN_MS - 2000) / plan.length
  for (const [i, name] of plan.entries()) {
    const due = started + 1000 + i * slotMs + random() * Math.max(0, slotMs - 2000)
    await sleep(Math.max(0, due - Date.now()))
    t.comment(`${name} at ${at()}`)
    await faults[name]!()
    t.comment(`${name} over at ${at()}`)
  }

  await within('every publish to settle', RUN_MS + 40_000, w.produced)
  t.comment(`produced: ${w.attempted.length} attempted, ${w.confirmed.length} confirmed, ${w.failures.length} failed; reconnects ${JSON.stringify(w.reconnects)}; proxy accepted ${proxy.accepted} connections, ${proxy.bytes.up} bytes up, ${proxy.bytes.down} down`)
  if (w.failures.length > 0) t.comment(`first failures: ${JSON.stringify(w.failures.slice(0, 3))}`)
  const drained = await w.deliveredAll(20_000)
  await w.close()

  const back = await readBack({ url: broker.url, topic: TOPIC, timeoutMs: 20_000 })
  t.ok(back.complete, `every stored offset read back (missing: ${JSON.stringify(back.missing.slice(0, 5))})`)
  const report = check({ confirmed: w.confirmed, stored: back.records, attempted: w.attempted, delivered: w.delivered })
  t.comment(report.summary())

  t.ok(w.reconnects.producers >= 3, 'the faults made the producers reconnect')
  t.ok(w.confirmed.length > 1000, 'the workload got far past the faults')
  expectClean(t, report, seed, drained)
})
