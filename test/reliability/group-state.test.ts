/**
 * Consumer-group state damaged on disk, through a real broker crash and
 * restart. Several groups read the same topic to the same point (70 of 100
 * acked, two saves apart, so each has a current and a previous snapshot);
 * the broker is SIGKILLed; each group's files get a different damage; one
 * restart. Each group then subscribes with from: 'latest' (a start position
 * that would skip everything if the broker trusted it over lost state).
 *
 * Pass: a group whose newest snapshot file is torn, flipped, empty or
 * missing falls back to its other file, the snapshot before, and says so
 * when the file is damaged (log line naming the group; a missing one is what
 * a crash between the renames of a save leaves, no news); a group whose
 * snapshots are both unreadable says so too. Either
 * way it redelivers, never skips: every message not acked before the crash
 * is delivered again, nothing below the older snapshot's floor is, and the
 * delivery counts carry on from the snapshot. A leftover temp file changes
 * nothing.
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { connect, type Client, type Consumer, type Message } from '../../clients/index.js'
import { loadGroupState, readGroupFiles, type GroupSnapshot } from '../../broker/storage/group-state.js'
import { groupsDir } from '../../broker/topic-store.js'
import { startBroker } from '../../broker/index.js'
import { BrokerRunner, tempDir, timeout, until } from './harness.js'
import { flipBit } from './damage.js'

const TOPIC = 'ledger'
const RECORDS = 100
const FIRST_ACKS = 40
const SECOND_ACKS = 30

/** Damage done to a group's files: `newest` is the file holding its newest snapshot, `older` the other one. */
type Damage = (newest: string, older: string, base: string) => void
const DAMAGES: Record<string, { damage: Damage; fallsBack: boolean; warns?: boolean }> = {
  torn: { damage: (n) => fs.truncateSync(n, Math.floor(fs.statSync(n).size / 2)), fallsBack: true, warns: true },
  flipped: { damage: (n) => flipBit(n, fs.statSync(n).size - 2), fallsBack: true, warns: true },
  empty: { damage: (n) => fs.truncateSync(n, 0), fallsBack: true, warns: true },
  // A crash between the two renames of a synchronous save leaves one file; here the newest goes.
  missing: { damage: (n) => fs.rmSync(n), fallsBack: true },
  'both-bad': {
    damage: (n, o) => {
      fs.writeFileSync(n, 'not a snapshot')
      fs.truncateSync(o, 10)
    },
    fallsBack: false,
  },
  // A crash while writing the temp file of a synchronous save: the snapshots themselves are fine.
  'stale-temp': { damage: (_n, _o, b) => fs.writeFileSync(`${b}.state.tmp`, 'half a snapsh'), fallsBack: false },
}

async function take(consumer: Consumer, n: number): Promise<Message[]> {
  const out: Message[] = []
  while (out.length < n) {
    const next = await Promise.race([consumer.next(), timeout(10_000).then(() => undefined)])
    if (!next || next.done) throw new Error(`only ${out.length} of ${n} messages came`)
    out.push(next.value)
  }
  return out
}

/** Everything delivered until nothing more comes for `quietMs`. */
async function drain(consumer: Consumer, quietMs: number): Promise<Message[]> {
  const out: Message[] = []
  for (;;) {
    const next = await Promise.race([consumer.next(), timeout(quietMs).then(() => undefined)])
    if (!next || next.done) return out
    out.push(next.value)
    next.value.ack()
  }
}

/** The snapshot in a state file, read by copying it where loadGroupState looks. */
function snapshotIn(file: string, scratch: string): GroupSnapshot | undefined {
  fs.copyFileSync(file, path.join(scratch, 'copy.state'))
  return loadGroupState(scratch, 'copy')
}

t.test('damaged group state falls back to an older snapshot and redelivers, never skips', async (t) => {
  const dataDir = tempDir(t, 'group-state')
  const scratch = tempDir(t, 'group-state-read')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2', '--group-commit-ms', '50'] })
  t.teardown(() => broker.kill())
  await broker.start()
  const groups = Object.keys(DAMAGES)
  const dir = groupsDir(dataDir, TOPIC, 0)
  const current = (g: string) => loadGroupState(dir, g)

  let client: Client = await connect(broker.url, { reconnect: false })
  const producer = client.producer()
  for (let i = 0; i < RECORDS; i++) await producer.publish(TOPIC, `m${i}`)
  await Promise.all(
    groups.map(async (g) => {
      const consumer = await client.subscribe(TOPIC, { group: g, from: 'earliest', maxInFlight: RECORDS })
      // Two acknowledged stretches with a save after each: the first becomes the previous snapshot.
      for (const m of await take(consumer, FIRST_ACKS)) m.ack()
      if (!(await until(() => current(g)?.floor === FIRST_ACKS, 10_000))) throw new Error(`${g}: the first save did not happen`)
      for (const m of await take(consumer, SECOND_ACKS)) m.ack()
      if (!(await until(() => current(g)?.floor === FIRST_ACKS + SECOND_ACKS, 10_000))) throw new Error(`${g}: the second save did not happen`)
    }),
  )
  // A crash with the consumers still connected and 30 messages each in flight.
  await broker.kill()
  client.close().catch(() => {})

  const before = new Map<string, { prev: GroupSnapshot }>()
  for (const g of groups) {
    const base = path.join(dir, g)
    const files = readGroupFiles(dir, g)
    if (!files.newest) throw new Error(`${g}: no snapshot saved`)
    const newest = base + files.newest
    const older = base + (files.newest === '.state' ? '.state.prev' : '.state')
    const prev = snapshotIn(older, scratch)
    if (!prev) throw new Error(`${g}: no previous snapshot to fall back to`)
    before.set(g, { prev })
    DAMAGES[g]!.damage(newest, older, base)
  }

  await broker.start()
  client = await connect(broker.url, { reconnect: false })
  t.teardown(() => client.close())
  for (const g of groups) {
    const { prev } = before.get(g)!
    const { fallsBack } = DAMAGES[g]!
    const consumer = await client.subscribe(TOPIC, { group: g, from: 'latest', maxInFlight: RECORDS })
    const got = await drain(consumer, 1500)
    await consumer.close()
    const offsets = new Set(got.map((m) => m.offset))
    const unacked = Array.from({ length: RECORDS - FIRST_ACKS - SECOND_ACKS }, (_, i) => FIRST_ACKS + SECOND_ACKS + i)
    t.same(unacked.filter((o) => !offsets.has(o)), [], `${g}: every message not acked before the crash is delivered again`)
    t.same(got.filter((m) => m.payload.toString() !== `m${m.offset}`).length, 0, `${g}: each offset carries its own record`)
    if (g === 'stale-temp') {
      t.same([...offsets].filter((o) => o < FIRST_ACKS + SECOND_ACKS), [], `${g}: the current snapshot is used, nothing acked comes back`)
      continue
    }
    if (fallsBack) {
      const owed = Array.from({ length: RECORDS - prev.floor }, (_, i) => prev.floor + i).filter((o) => !prev.acked.includes(o))
      t.same(owed.filter((o) => !offsets.has(o)), [], `${g}: everything unsettled in the previous snapshot (floor ${prev.floor}) is delivered`)
      t.same([...offsets].filter((o) => o < prev.floor), [], `${g}: nothing below the previous snapshot's floor comes back`)
      const counts = new Map(prev.deliveries)
      const wrongCounts = got.filter((m) => m.deliveryCount !== (counts.get(m.offset) ?? 0) + 1).map((m) => `${m.offset}: ${m.deliveryCount}`)
      t.same(wrongCounts, [], `${g}: delivery counts carry on from the snapshot`)
      const line = broker.runLines.find((l) => l.msg === 'group state file damaged: the other snapshot file is used' && l.group === g)
      if (DAMAGES[g]!.warns) t.ok(line, `${g}: the fallback is logged, naming the group`)
      else t.notOk(line, `${g}: a missing file is not logged as damage`)
    } else {
      t.ok(offsets.size >= RECORDS - FIRST_ACKS - SECOND_ACKS, `${g}: with no readable snapshot the group redelivers (${offsets.size} messages) instead of starting at 'latest'`)
      const line = broker.runLines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('group state unreadable') && l.group === g)
      t.ok(line, `${g}: the loss of both snapshots is logged, naming the group`)
    }
  }
  t.notOk(broker.runLines.some((l) => l.group === 'stale-temp' && String(l.msg).startsWith('group state')), 'a leftover temp file is not worth a warning')
})

t.test('regression: unreadable group state started the group at its subscriber\'s "latest", skipping unacked messages', async (t) => {
  const dataDir = tempDir(t, 'group-lost')
  const opts = { port: 0, dataDir, workers: 1, logLevel: 'silent' as const, groupCommitMs: 20 }
  let broker = await startBroker(opts)
  let client = await connect(`skiff://127.0.0.1:${broker.port}`, { reconnect: false })
  const producer = client.producer()
  for (let i = 0; i < 10; i++) await producer.publish('lost', `m${i}`)
  const first = await client.subscribe('lost', { group: 'g', from: 'earliest', maxInFlight: 5 })
  for (const m of await take(first, 5)) m.ack()
  const dir = groupsDir(dataDir, 'lost', 0)
  t.ok(await until(() => loadGroupState(dir, 'g')?.floor === 5, 5000), 'five acks saved')
  await client.close()
  await broker.close()
  fs.writeFileSync(path.join(dir, 'g.state'), 'garbage')
  fs.writeFileSync(path.join(dir, 'g.state.prev'), 'garbage')

  broker = await startBroker(opts)
  t.teardown(() => broker.close())
  client = await connect(`skiff://127.0.0.1:${broker.port}`, { reconnect: false })
  t.teardown(() => client.close())
  const again = await client.subscribe('lost', { group: 'g', from: 'latest', maxInFlight: 10 })
  const offsets = (await drain(again, 1000)).map((m) => m.offset)
  t.same(offsets, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'the whole log is redelivered, the five unacked included')
})
