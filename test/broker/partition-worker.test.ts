/**
 * A partition worker's turn driven in-process: a PartitionWorker on a real
 * temp data dir, the gateway side played by a `post` that passes each turn's
 * ops through the real thread codec and keeps them, DELIVER frames read from
 * the `out` bytes as a client would, and ack deadlines run on a clock the
 * test moves.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PartitionWorker } from '../../broker/worker/partition-worker.js'
import type { FromWorker, ToWorker, WorkerData } from '../../broker/thread-messages.js'
import { ThreadCodec } from '../../broker/thread-codec.js'
import { writeTopicConfig } from '../../broker/topic-store.js'
import { decodeRecord, encodeRecord } from '../../protocol/index.js'
import { delivered, type Delivered } from './delivered.js'

const TOPIC = 'orders'

/** The gateway side: every op the worker posted, decoded as the gateway would decode it. */
class FakeGateway {
  ops: FromWorker[] = []
  private readonly codec = new ThreadCodec()
  post = (ops: FromWorker[]): void => {
    this.ops.push(...(this.codec.unpack(this.codec.pack(ops), this.codec.attachments) as FromWorker[]))
  }

  /** The answer to reply token `id`. */
  reply(id: number): FromWorker | undefined {
    return this.ops.find((o) => (o.t === 'done' || o.t === 'fail') && o.id === id)
  }

  /** Every message delivered so far, in order: [sub, offset, deliveryCount, payload]. */
  deliveries(): Delivered[] {
    return delivered(this.ops)
  }
}

function setup(t: { teardown(fn: () => unknown): void }, dataDir?: string) {
  const dir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-pw-'))
  if (!dataDir) {
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    writeTopicConfig(dir, { topic: TOPIC, partitions: 1, retentionMs: 0, retentionBytes: 0, segmentBytes: 1024 * 1024, createdAt: Date.now() })
  }
  const data: WorkerData = { workerId: 0, workers: 1, dataDir: dir, fsync: 'always', groupCommitMs: 1000, retentionCheckMs: 0, maxFrame: 1024 * 1024 }
  const gateway = new FakeGateway()
  const clock = { now: Date.now() }
  const worker = new PartitionWorker({ data, post: gateway.post, clock: () => clock.now })
  worker.start()
  let id = 100
  // A turn, then the turns that follow its sync (run on the libuv pool with fsync 'always') until none is running.
  const turn = async (...ops: ToWorker[]) => {
    worker.handle(ops)
    worker.endTurn()
    await worker.syncsDone()
  }
  const publish = async (...payloads: string[]) => {
    const records = Buffer.concat(payloads.map((p) => encodeRecord({ payload: Buffer.from(p) })))
    const pubId = ++id
    await turn({ t: 'pub', id: pubId, topic: TOPIC, partition: 0, count: payloads.length, records, confirm: true })
    return pubId
  }
  const subscribe = async (group: string, opts: { maxDeliveries?: number; ackTimeoutMs?: number } = {}) => {
    const subId = ++id
    await turn({ t: 'sub', id: subId, conn: 1, sub: 7, topic: TOPIC, partition: 0, group, start: 'earliest', startValue: undefined, maxInFlight: 100, creditPool: subId, ackTimeoutMs: opts.ackTimeoutMs ?? 30_000, maxDeliveries: opts.maxDeliveries ?? 5, ackNone: false })
    return subId
  }
  const ack = async (group: string, first: number, count: number) => turn({ t: 'settle', conn: 1, sub: 7, topic: TOPIC, partition: 0, group, kind: 'ack', ranges: [first, count], delayMs: 0 })
  const ask = async (op: ToWorker & { id: number }) => {
    await turn(op)
    return gateway.reply(op.id)
  }
  const stop = async () => {
    const stopId = ++id
    worker.handle([{ t: 'stop', id: stopId }])
    for (let i = 0; i < 100 && !gateway.reply(stopId); i++) await new Promise((r) => setTimeout(r, 10))
    return gateway.reply(stopId)
  }
  return { dir, worker, gateway, clock, turn, publish, subscribe, ack, ask, stop, nextId: () => ++id }
}

t.test('publish with fsync always: the confirm carries the base offset, after the batch is durable', async (t) => {
  const w = setup(t)
  t.teardown(() => w.worker.stop())
  const first = await w.publish('a', 'b', 'c')
  const second = await w.publish('d')
  t.same(w.gateway.reply(first), { t: 'done', id: first, result: 0 })
  t.same(w.gateway.reply(second), { t: 'done', id: second, result: 3 })
  const described = await w.ask({ t: 'describe', id: w.nextId(), topic: TOPIC, partition: 0 })
  t.match(described, { t: 'done', result: { endOffset: 4 } })
  t.ok(w.gateway.ops.some((o) => o.t === 'metrics'), 'the turn reports its metric counts')
})

t.test('subscribe, then deliver; an ack moves the committed position', async (t) => {
  const w = setup(t)
  t.teardown(() => w.worker.stop())
  await w.publish('m0', 'm1', 'm2')
  const sub = await w.subscribe('g')
  t.same(w.gateway.reply(sub), { t: 'done', id: sub, result: null })
  t.same(w.gateway.deliveries(), [
    { sub: 7, offset: 0, count: 1, payload: 'm0' },
    { sub: 7, offset: 1, count: 1, payload: 'm1' },
    { sub: 7, offset: 2, count: 1, payload: 'm2' },
  ])
  await w.ack('g', 0, 2)
  const group = await w.ask({ t: 'group', id: w.nextId(), topic: TOPIC, partition: 0, group: 'g' })
  t.match(group, { t: 'done', result: { committed: 2, next: 3, inFlight: 1, members: 1 } })
})

t.test('an ack deadline that passes redelivers the message, with its delivery count', async (t) => {
  const w = setup(t)
  t.teardown(() => w.worker.stop())
  await w.publish('slow')
  await w.subscribe('g', { ackTimeoutMs: 1000 })
  t.equal(w.gateway.deliveries().length, 1)
  w.clock.now += 500
  w.worker.tickAcks()
  w.worker.endTurn()
  t.equal(w.gateway.deliveries().length, 1, 'not before the deadline')
  w.clock.now += 600
  w.worker.tickAcks()
  w.worker.endTurn()
  t.same(w.gateway.deliveries().map((d) => [d.offset, d.count, d.payload]), [[0, 1, 'slow'], [0, 2, 'slow']])
})

t.test('past max deliveries the message goes to the dead-letter topic', async (t) => {
  const w = setup(t)
  t.teardown(() => w.worker.stop())
  await w.publish('poison')
  await w.subscribe('g', { ackTimeoutMs: 1000, maxDeliveries: 2 })
  for (let i = 0; i < 3; i++) {
    w.clock.now += 1001
    w.worker.tickAcks()
    w.worker.endTurn()
  }
  t.same(w.gateway.deliveries().map((d) => d.count), [1, 2], 'delivered twice, then no more')
  const created = w.gateway.ops.find((o) => o.t === 'topic')
  t.match(created, { t: 'topic', config: { topic: `${TOPIC}.dlq`, partitions: 1 } }, 'the gateway is told of the new topic')
  const peeked = await w.ask({ t: 'peek', id: w.nextId(), topic: `${TOPIC}.dlq`, partition: 0, offset: 0, max: 10 })
  t.equal(peeked?.t, 'done')
  const records = (peeked as { result: { record: Uint8Array }[] }).result
  t.equal(records.length, 1)
  const dead = decodeRecord(records[0]!.record)
  t.equal(dead.payload.toString(), 'poison')
  t.match(dead.headers, { 'x-dlq-topic': TOPIC, 'x-dlq-offset': '0', 'x-dlq-group': 'g', 'x-dlq-deliveries': '2', 'x-dlq-reason': 'max-deliveries' })
  const group = await w.ask({ t: 'group', id: w.nextId(), topic: TOPIC, partition: 0, group: 'g' })
  t.match(group, { result: { committed: 1, inFlight: 0 } }, 'the dead letter settles the offset')
})

t.test('a new worker on the same data dir resumes the group where it was acked', async (t) => {
  const first = setup(t)
  await first.publish('r0', 'r1', 'r2', 'r3', 'r4')
  await first.subscribe('g')
  t.equal(first.gateway.deliveries().length, 5)
  await first.ack('g', 0, 3)
  t.match(await first.stop(), { t: 'done', result: null }, 'the stop op is answered once the partitions are closed')
  t.equal(first.worker.ctx.partitions.size, 0, 'stop closed the partitions')

  const second = setup(t, first.dir)
  t.teardown(() => second.worker.stop())
  t.ok(second.gateway.ops.some((o) => o.t === 'log' && o.event.msg === 'partitions recovered'), 'start opened the owned partition')
  await second.subscribe('g')
  t.same(second.gateway.deliveries().map((d) => [d.offset, d.payload]), [[3, 'r3'], [4, 'r4']], 'only what was not acked comes again')
  const group = await second.ask({ t: 'group', id: second.nextId(), topic: TOPIC, partition: 0, group: 'g' })
  t.match(group, { result: { committed: 3, endOffset: 5 } })
})

t.test('fsync always: the sync runs beside the turn; a confirm waits for the sync that covers its batch, one sync at a time', async (t) => {
  const w = setup(t)
  t.teardown(() => w.worker.stop())
  await w.subscribe('g')
  const p = w.worker.ctx.existing(TOPIC, 0)!
  const publishNoWait = (payload: string) => {
    const id = w.nextId()
    w.worker.handle([{ t: 'pub', id, topic: TOPIC, partition: 0, count: 1, records: encodeRecord({ payload: Buffer.from(payload) }), confirm: true }])
    w.worker.endTurn()
    return id
  }
  const a = publishNoWait('a')
  const running = p.syncer.running
  t.ok(running, 'the turn ended with a sync running')
  t.equal(w.gateway.reply(a), undefined, 'no confirm before the sync ends')
  t.equal(p.log.durableOffset, 0, 'nothing durable yet')
  t.same(w.gateway.deliveries(), [], 'nothing delivered before it is durable')
  const b = publishNoWait('b')
  t.equal(p.syncer.running, running, 'no second sync starts while one runs')
  t.equal(w.gateway.reply(b), undefined)
  await running
  w.worker.endTurn()
  t.same(w.gateway.reply(a), { t: 'done', id: a, result: 0 }, 'the first sync confirms the batch it covered')
  t.equal(w.gateway.reply(b), undefined, 'but not the one appended while it ran')
  t.ok(p.syncer.running && p.syncer.running !== running, 'the next sync started at the end of that turn')
  await w.worker.syncsDone()
  t.same(w.gateway.reply(b), { t: 'done', id: b, result: 1 })
  t.equal(p.log.durableOffset, 2, 'both durable')
  t.same(w.gateway.deliveries().map((d) => d.payload), ['a', 'b'], 'each delivered once durable')
})
