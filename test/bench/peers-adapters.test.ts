/**
 * The NATS, Redis and RabbitMQ bench adapters against the real servers (each
 * skipped, with the reason, when its binary is not installed): a fresh server,
 * two groups, 200 confirmed publishes through one reused buffer, and every
 * group must receive every payload byte-identical and in publish order; the
 * same through send() in each broker's fire-and-forget mode. stop() must leave
 * no process of the server running (RabbitMQ: the VM, its erl_child_setup and epmd).
 */
import t, { type Test } from 'tap'
import crypto from 'node:crypto'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const load = (rel: string) => import(pathToFileURL(path.join(root, rel)).href)

const { findBinary, requireBinary, descendantsOf, isRunning } = await load('bench/peers/server-process.mjs')
const { loadAdapter } = await load('bench/embedded/adapter.mjs')

const MESSAGES = 200
const GROUPS = ['g1', 'g2']
const WAIT_MS = 20_000

const brokers: [string, string][] = [
  ['nats', 'nats-server'],
  ['redis', 'redis-server'],
  ['rabbitmq', 'rabbitmq-server'],
]

/** Payloads of different lengths and random bytes, so a framing or copy mistake shows. */
function makePayloads(): Buffer[] {
  return Array.from({ length: MESSAGES }, (_, i) => crypto.randomBytes(1 + ((i * 37) % 300)))
}

async function roundTrip(t: Test, name: string, confirm: boolean) {
  const adapter = await loadAdapter(name)
  const topic = 'roundtrip'
  const workload = {
    topic,
    producers: { processes: 1, connections: 1, messages: MESSAGES, size: 128, confirm, maxInFlight: 100 },
    consumers: GROUPS.map((group) => ({ group, processes: 1, connections: 1, maxInFlight: 100, ...(confirm ? {} : { ack: 'none' }) })),
  }
  t.type(adapter.durability(workload), 'string')
  const before = new Set<number>(descendantsOf(process.pid))
  const server = await adapter.startServer(workload)
  let processes: number[] = []
  t.ok(isRunning(server.pid), 'the server runs')
  try {
    await adapter.prepare(server.connectInfo, { topic, partitions: 1, groups: GROUPS })
    const received: Buffer[][] = GROUPS.map(() => [])
    const consumers = await Promise.all(
      GROUPS.map((group, g) =>
        adapter.consumer(server.connectInfo, { topic, group, maxInFlight: 100, ack: confirm ? 'each' : 'none' }, (payload: Buffer) => {
          // The adapter may hand out a view of its read buffer, valid during the call only.
          received[g].push(Buffer.from(payload))
        }),
      ),
    )
    const producer = await adapter.producer(server.connectInfo, { topic, confirm, maxInFlight: 100 })
    const payloads = makePayloads()
    // One buffer for every message, overwritten as soon as publish/send returns,
    // as the contract allows the caller to do.
    const reused = Buffer.alloc(400)
    const confirms: Promise<void>[] = []
    let refused = 0
    for (const p of payloads) {
      p.copy(reused)
      const view = reused.subarray(0, p.length)
      if (confirm) confirms.push(producer.publish(view))
      else if (!producer.send(view)) refused++
      reused.fill(0xee)
    }
    if (!confirm) t.equal(refused, 0, 'send() takes every message of a small burst')
    if (confirm) await Promise.all(confirms)
    else await producer.flush()

    const deadline = Date.now() + WAIT_MS
    while (received.some((r) => r.length < MESSAGES) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    await producer.close()
    await Promise.all(consumers.map((c: { close(): Promise<void> }) => c.close()))

    for (const [g, group] of GROUPS.entries()) {
      t.equal(received[g].length, MESSAGES, `${group} received every message`)
      const mismatch = payloads.findIndex((p, i) => received[g][i] === undefined || !p.equals(received[g][i]))
      t.equal(mismatch, -1, `${group} received every payload byte-identical, in publish order`)
    }
  } finally {
    // The server, what runs below it, and what the starter spawned beside it (RabbitMQ's epmd).
    processes = [...new Set<number>([server.pid, ...descendantsOf(server.pid), ...descendantsOf(process.pid)])].filter((pid) => !before.has(pid))
    await server.stop()
  }
  t.same(processes.filter(isRunning), [], 'stop() left no process of the server running')
}

for (const [name, binary] of brokers) {
  const missing = findBinary(binary) === null && !(binary === 'rabbitmq-server' && findBinary('/usr/lib/rabbitmq/bin/rabbitmq-server') !== null)
  const skip = missing ? `${binary} is not installed (bench/peers/setup.sh installs it)` : false
  t.test(`${name}: 200 confirmed messages, 2 groups`, { skip }, (t) => roundTrip(t, name, true))
  t.test(`${name}: 200 fire-and-forget messages, 2 groups`, { skip }, (t) => roundTrip(t, name, false))
}

t.test('a missing server binary is named, with how to install it', async (t) => {
  t.throws(() => requireBinary('skiff-no-such-server'), { message: /skiff-no-such-server.*run bench\/peers\/setup\.sh/ })
})
