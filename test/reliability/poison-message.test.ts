/**
 * Regression (issue 14, item 2): maxDeliveries counts every delivery, by any
 * route, and the count survives a broker crash.
 *
 * 1. A message that kills its consumer: each member (its own process,
 *    poison-member.mjs) SIGKILLs itself on receiving it, a new member joins,
 *    maxDeliveries 3. Before: the redelivery after a member left never checked
 *    the count; the message was delivered again to every new member (7 times
 *    in the issue) and never dead-lettered. Now: 3 deliveries (counts 1, 2,
 *    3), then the dead-letter topic holds it with deliveries 3 and reason
 *    max-deliveries, and the members after that get only the good messages.
 * 2. The broker SIGKILLed with messages in flight, four times, the group
 *    state saved only in the first run. Before: every count since that save
 *    was lost (the second run's nacked redeliveries came back with count 2
 *    after the next crash, as if they had never happened). Now each delivery
 *    after a restart carries the count before it plus one, and once a
 *    message has had maxDeliveries deliveries the next start dead-letters it
 *    instead of delivering it again.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { connect, type Client, type Message } from '../../clients/index.js'
import { loadGroupState } from '../../broker/storage/group-state.js'
import { groupsDir } from '../../broker/topic-store.js'
import { BrokerRunner, metricValue, tempDir, until } from './harness.js'
import { Reader } from '../e2e/helpers.js'

const memberScript = fileURLToPath(new URL('./poison-member.mjs', import.meta.url))

interface Delivery {
  o: number
  c: number
  id: string
}

/** Run one member until the poison kills it or `quietMs` pass without a delivery (then it is stopped). */
async function runMember(url: string, topic: string, group: string, maxDeliveries: number, quietMs: number): Promise<{ deliveries: Delivery[]; killed: boolean }> {
  const child = spawn(process.execPath, [memberScript, url, topic, group, String(maxDeliveries)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const deliveries: Delivery[] = []
  let last = Date.now()
  const exited = new Promise<string | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    const ev = JSON.parse(line) as { e: string } & Delivery
    last = Date.now()
    if (ev.e === 'd') deliveries.push({ o: ev.o, c: ev.c, id: ev.id })
  })
  const quiet = (async () => {
    await until(() => Date.now() - last > quietMs || child.exitCode !== null || child.signalCode !== null, 30_000)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  })()
  const signal = await exited
  await quiet
  return { deliveries, killed: signal === 'SIGKILL' }
}

/** Everything delivered until nothing more comes for `quietMs` (a read that times out is kept for the next call). */
async function drain(reader: Reader, quietMs: number): Promise<Message[]> {
  const out: Message[] = []
  for (let m = await reader.next(quietMs); m; m = await reader.next(quietMs)) out.push(m)
  return out
}

async function deadLetters(client: Client, topic: string, expect: number): Promise<Message[]> {
  const consumer = await client.subscribe(`${topic}.dlq`, { group: 'inspect', from: 'earliest', maxInFlight: 100 })
  const reader = new Reader(consumer)
  const got: Message[] = []
  for (let m = await reader.next(3000); m; m = got.length < expect ? await reader.next(3000) : undefined) {
    got.push(m)
    m.ack()
  }
  await consumer.close()
  return got
}

t.test('a message that kills its consumer on every delivery is dead-lettered after maxDeliveries', async (t) => {
  const dataDir = tempDir(t, 'poison')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2'] })
  t.teardown(() => broker.kill())
  await broker.start()
  const client = await connect(broker.url, { reconnect: false })
  t.teardown(() => client.close())
  const producer = client.producer()
  await producer.publish('jobs', 'good-0')
  await producer.publish('jobs', 'poison')
  for (let i = 1; i < 5; i++) await producer.publish('jobs', `good-${i}`)

  const poisonCounts: number[] = []
  const good = new Set<string>()
  let members = 0
  // Bounded: with the count ignored every member dies on it; 6 members show it (3 are enough).
  for (; members < 6; members++) {
    const { deliveries, killed } = await runMember(broker.url, 'jobs', 'workers', 3, 1500)
    for (const d of deliveries) {
      if (d.id === 'poison') poisonCounts.push(d.c)
      else good.add(d.id)
    }
    if (!killed) break
  }
  t.same(poisonCounts, [1, 2, 3], 'the poison message was delivered 3 times, with counts 1, 2, 3')
  t.equal(members, 3, 'the fourth member lived: the poison message did not come again')
  t.same([...good].sort(), ['good-0', 'good-1', 'good-2', 'good-3', 'good-4'], 'every good message was delivered')

  const dead = await deadLetters(client, 'jobs', 1)
  t.equal(dead.length, 1, 'the dead-letter topic holds one message')
  t.match(dead[0], { payload: Buffer.from('poison') }, 'the poison message')
  t.match(dead[0]?.headers, { 'x-dlq-offset': '1', 'x-dlq-deliveries': '3', 'x-dlq-reason': 'max-deliveries', 'x-dlq-group': 'workers' }, 'with its delivery count and reason')
  t.ok(
    await until(async () => metricValue((await broker.metrics()) ?? '', 'skiff_messages_dead_lettered_total', { topic: 'jobs', group: 'workers' }) === 1, 5000),
    'skiff_messages_dead_lettered_total counts it',
  )
})

t.test('across broker SIGKILLs the delivery count never goes back, and a spent message is dead-lettered', async (t) => {
  const TOPIC = 'tasks'
  const GROUP = 'runners'
  const N = 20
  const MAX = 5
  const dataDir = tempDir(t, 'poison-crash')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2'] })
  t.teardown(() => broker.kill())
  // Run 1 saves the group's state often; the later runs never do before they are killed, so
  // every count after the first lives only in what the broker wrote before delivering.
  const noSaves = ['--group-commit-ms', '3600000']
  await broker.start(['--group-commit-ms', '50'])
  let client = await connect(broker.url, { reconnect: false })
  const producer = client.producer()
  for (let i = 0; i < N; i++) await producer.publish(TOPIC, `task-${i}`)
  const subscribe = async (c: Client) => new Reader(await c.subscribe(TOPIC, { group: GROUP, from: 'earliest', maxInFlight: N, maxDeliveries: MAX, ackTimeoutMs: 120_000 }))
  const restart = async () => {
    await broker.kill()
    client.close().catch(() => {})
    await broker.start(noSaves)
    client = await connect(broker.url, { reconnect: false })
    return subscribe(client)
  }

  let consumer = await subscribe(client)
  let got = await drain(consumer, 500)
  t.equal(got.length, N, 'run 1: first deliveries')
  t.ok(await until(() => loadGroupState(groupsDir(dataDir, TOPIC, 0), GROUP)?.deliveries.length === N, 5000), 'run 1: the group state with counts 1 is saved')
  let seen = new Map(got.map((m) => [m.offset, m.deliveryCount]))

  const checkRun = (run: number) => {
    t.equal(got.length, N, `run ${run}: every unacked message is delivered again`)
    const wrong = got.filter((m) => m.deliveryCount !== seen.get(m.offset)! + 1).map((m) => `${m.offset}: ${seen.get(m.offset)} then ${m.deliveryCount}`)
    t.same(wrong, [], `run ${run}: each count is the one seen before plus one`)
    seen = new Map(got.map((m) => [m.offset, m.deliveryCount]))
  }
  // Run 2: after the crash (count 2), nacked and delivered again (count 3), none of it saved.
  consumer = await restart()
  got = await drain(consumer, 500)
  checkRun(2)
  for (const m of got) m.nack()
  got = await drain(consumer, 500)
  checkRun(2)
  // Runs 3 and 4: counts 4 and 5, each after a crash.
  for (let run = 3; run <= 4; run++) {
    consumer = await restart()
    got = await drain(consumer, 1000)
    checkRun(run)
  }
  t.same([...new Set(seen.values())], [MAX], `run 4 delivered each message for the ${MAX}th time`)

  // One more crash: the next start finds every message delivered MAX times and dead-letters them all.
  consumer = await restart()
  t.teardown(() => client.close())
  t.same((await drain(consumer, 1000)).map((m) => m.offset), [], `run 5: nothing is delivered a ${MAX + 1}th time`)
  const dead = await deadLetters(client, TOPIC, N)
  t.equal(dead.length, N, 'every message is in the dead-letter topic')
  t.same([...new Set(dead.map((m) => m.headers['x-dlq-deliveries']))], [String(MAX)], `each with deliveries ${MAX}`)
  t.same([...new Set(dead.map((m) => m.headers['x-dlq-reason']))], ['max-deliveries'], 'and reason max-deliveries')
})
