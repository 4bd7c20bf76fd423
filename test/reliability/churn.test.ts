/**
 * Poison messages and churn: a consumer group whose members (each its own
 * process, churn-member.mjs) are SIGKILLed mid-batch, leave cleanly and join
 * at random while they work through a topic in which some messages are
 * poison (always nacked). When the churn stops and the group has drained:
 *
 * - every message ended exactly once as acked or dead-lettered: the broker's
 *   acked count is the number of good messages, its dead-lettered count the
 *   number of poison ones, the dead-letter topic holds each poison message
 *   once and nothing else, and the group's lag is 0;
 * - delivery counts are right: no message was delivered twice with the same
 *   count, and a dead letter records at least maxDeliveries deliveries (and
 *   no fewer than any member saw);
 * - the group's position never went backwards: each partition's committed
 *   floor only grew, and no member received a message below a floor that
 *   had already been observed.
 *
 * SKIFF_SEED replays the churn.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { connect } from '../../clients/index.js'
import { BrokerRunner, metricValue, runSeed, seededRandom, sleep, tempDir, timeout, until } from './harness.js'

const member = fileURLToPath(new URL('./churn-member.mjs', import.meta.url))
const TOPIC = 'jobs'
const GROUP = 'workers'
const MESSAGES = 3000
const MAX_DELIVERIES = 3
const CHURN_ACTIONS = 16
const WAVES = 20
const isPoison = (i: number) => i % 37 === 5

interface Delivery {
  p: number
  o: number
  c: number
  t: number
  id: string
}

interface Member {
  child: ChildProcess
  exited: Promise<void>
  goodSeen: number
}

t.test('kills, leaves and joins under poison messages: each message ends once as acked or dead-lettered', async (t) => {
  const seed = runSeed()
  const random = seededRandom(seed)
  t.comment(`seed ${seed}`)
  const dataDir = tempDir(t, 'churn')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2'] })
  t.teardown(() => broker.kill())
  await broker.start()
  const client = await connect(broker.url, { reconnect: false })
  t.teardown(() => client.close())
  await client.admin.createTopic(TOPIC, { partitions: 3 })
  const producer = client.producer({ maxInFlight: 1000 })
  const poison = new Set<string>()
  // Published in waves while the members come and go, so every kill and leave finds work in flight.
  const publishing = (async () => {
    for (let wave = 0; wave < WAVES; wave++) {
      const from = (wave * MESSAGES) / WAVES
      const published = await Promise.all(
        Array.from({ length: MESSAGES / WAVES }, (_, k) => producer.publish(TOPIC, isPoison(from + k) ? `poison-${from + k}` : `job-${from + k}`, { key: `k${k % 11}` })),
      )
      published.forEach((w, k) => isPoison(from + k) && poison.add(`${w.partition}/${w.offset}`))
      await sleep(250)
    }
  })()

  const deliveries: Delivery[] = []
  const members = new Set<Member>()
  const spawnMember = async (mode = 'work'): Promise<Member> => {
    const maxInFlight = 10 + Math.floor(random() * 60)
    const child = spawn(process.execPath, [member, broker.url, TOPIC, GROUP, String(maxInFlight), String(MAX_DELIVERIES), mode], { stdio: ['ignore', 'pipe', 'inherit'] })
    const m: Member = { child, exited: new Promise((r) => child.once('exit', () => r())), goodSeen: 0 }
    members.add(m)
    void m.exited.then(() => members.delete(m))
    const ready = new Promise<void>((resolve) => {
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        const ev = JSON.parse(line) as { e: string } & Delivery
        if (ev.e === 'ready') resolve()
        else if (ev.e === 'd') {
          deliveries.push(ev)
          if (!ev.id.startsWith('poison')) m.goodSeen++
        }
      })
    })
    await Promise.race([ready, m.exited, timeout(20_000)])
    return m
  }
  t.teardown(() => {
    for (const m of members) m.child.kill('SIGKILL')
  })

  // Watch the committed floors while the group works.
  const floors: { t: number; p: number; floor: number }[] = []
  let watching = true
  const watcher = (async () => {
    while (watching) {
      try {
        const g = await client.admin.describeGroup(TOPIC, GROUP)
        const now = Date.now()
        for (const p of g.partitions) floors.push({ t: now, p: p.partition, floor: p.committed })
      } catch {
        // UNKNOWN_GROUP until the first member joins
      }
      await sleep(50)
    }
  })()

  const actions: string[] = []
  // The random kills below may all fall between waves, when members hold
  // nothing; this one cannot: the group's first member settles nothing and is
  // killed once it holds good messages (it is alone, so the backlog or the
  // next wave comes to it), so they must come back.
  const holder = await spawnMember('hold')
  const held = await until(() => holder.goodSeen > 0, 30_000)
  holder.child.kill('SIGKILL')
  await holder.exited
  actions.push(held ? 'kill-holder' : 'kill-holder-empty')
  for (let i = 0; i < 3; i++) await spawnMember()
  for (let i = 0; i < CHURN_ACTIONS; i++) {
    await sleep(150 + Math.floor(random() * 500))
    const list = [...members]
    const pick = list[Math.floor(random() * list.length)]
    const r = random()
    if (list.length > 1 && r < 0.4) {
      pick!.child.kill('SIGKILL')
      await pick!.exited
      actions.push('kill')
    } else if (list.length > 1 && r < 0.6) {
      pick!.child.kill('SIGTERM')
      await Promise.race([pick!.exited, timeout(15_000)])
      actions.push('leave')
    } else if (list.length < 5) {
      await spawnMember()
      actions.push('join')
    }
  }
  while (members.size < 2) await spawnMember()
  await publishing

  const dlqTopic = `${TOPIC}.dlq`
  const drained = await until(async () => {
    const g = await client.admin.describeGroup(TOPIC, GROUP)
    return g.partitions.every((p) => p.lag === 0 && p.inFlight === 0)
  }, 60_000)
  watching = false
  await watcher
  for (const m of [...members]) {
    m.child.kill('SIGTERM')
    await Promise.race([m.exited, timeout(15_000)])
  }
  t.ok(drained, `the group drained (churn: ${actions.join(', ')})`)
  const g = await client.admin.describeGroup(TOPIC, GROUP)
  t.same(
    g.partitions.map((p) => p.committed),
    g.partitions.map((p) => p.endOffset),
    'every partition is settled up to its end',
  )

  // The dead-letter topic: each poison message once, nothing else.
  const dlq = await client.subscribe(dlqTopic, { group: 'audit', from: 'earliest', maxInFlight: 500 })
  const dead: { where: string; deliveries: number; reason: string }[] = []
  for (;;) {
    const next = await Promise.race([dlq.next(), timeout(dead.length < poison.size ? 10_000 : 500).then(() => undefined)])
    if (!next || next.done) break
    const h = next.value.headers
    dead.push({ where: `${h['x-dlq-partition']}/${h['x-dlq-offset']}`, deliveries: Number(h['x-dlq-deliveries']), reason: String(h['x-dlq-reason']) })
    next.value.ack()
  }
  const deadWhere = dead.map((d) => d.where)
  t.equal(dead.length, poison.size, `${poison.size} poison messages, ${dead.length} dead letters`)
  t.equal(new Set(deadWhere).size, dead.length, 'no message was dead-lettered twice')
  t.same(deadWhere.filter((w) => !poison.has(w)), [], 'no good message was dead-lettered')
  t.same(dead.filter((d) => d.reason !== 'max-deliveries').length, 0, 'every dead letter says why: max-deliveries')

  const metrics = await broker.metrics()
  if (metrics === undefined) t.comment('no /metrics in this build: exactly-once settling is checked by the dead letters and the lag only')
  else {
    const labels = { topic: TOPIC, group: GROUP }
    t.equal(metricValue(metrics, 'skiff_messages_acked_total', labels), MESSAGES - poison.size, 'the broker took exactly one ack per good message')
    t.equal(metricValue(metrics, 'skiff_messages_dead_lettered_total', labels), poison.size, 'and dead-lettered each poison message once')
  }

  // Delivery counts.
  const counts = new Map<string, number[]>()
  for (const d of deliveries) {
    const k = `${d.p}/${d.o}`
    const list = counts.get(k)
    if (list) list.push(d.c)
    else counts.set(k, [d.c])
  }
  const repeatedCounts = [...counts].filter(([, cs]) => new Set(cs).size !== cs.length).map(([k, cs]) => `${k}: ${cs.join(',')}`)
  t.same(repeatedCounts.slice(0, 10), [], 'no message was delivered twice with the same delivery count')
  const undercounted = dead.filter((d) => d.deliveries < MAX_DELIVERIES || d.deliveries < Math.max(...(counts.get(d.where) ?? [0])))
  t.same(undercounted.slice(0, 10), [], `every dead letter records at least ${MAX_DELIVERIES} deliveries, and no fewer than were seen`)

  // Positions never go backwards past acked work.
  const backwards: string[] = []
  const lastFloor = new Map<number, number>()
  for (const f of floors) {
    if ((lastFloor.get(f.p) ?? 0) > f.floor) backwards.push(`partition ${f.p}: ${lastFloor.get(f.p)} -> ${f.floor}`)
    lastFloor.set(f.p, Math.max(lastFloor.get(f.p) ?? 0, f.floor))
  }
  t.same(backwards, [], `the committed floors only grew (${floors.length} observations)`)
  const belowFloor = deliveries.filter((d) => floors.some((f) => f.p === d.p && f.t < d.t && f.floor > d.o))
  t.same(belowFloor.slice(0, 5), [], 'no member received a message below a floor already committed')
  const redelivered = deliveries.filter((d) => d.c > 1 && !d.id.startsWith('poison')).length
  t.ok(held && redelivered >= holder.goodSeen, `the churn hit members mid-batch: the killed holder had ${holder.goodSeen} good messages, ${redelivered} good messages were delivered again (${deliveries.length} deliveries seen)`)
})
