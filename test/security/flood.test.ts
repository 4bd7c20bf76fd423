/**
 * Many hostile connections at once, while a logged-in client keeps
 * publishing with confirms: sockets that never send HELLO, a 4 GiB length
 * prefix, 64 KiB of garbage. All are cut off by the auth timeout (2 s, swept
 * every second) or at once, the broker's memory stays bounded, and every
 * publish of the good client is confirmed throughout.
 */
import t from 'tap'
import net from 'node:net'
import crypto from 'node:crypto'
import { FrameDecoder, Op, decodeError } from '../../protocol/index.js'
import { connect, type Client } from '../../clients/index.js'
import { TOKENS, authBroker, rssMiB, until } from './helpers.js'

interface Stranger {
  socket: net.Socket
  closedAt: number | undefined
  errors: string[]
}

function stranger(port: number): Promise<Stranger> {
  return new Promise((resolve, reject) => {
    const s: Stranger = { socket: net.connect(port, '127.0.0.1'), closedAt: undefined, errors: [] }
    const decoder = new FrameDecoder(1024 * 1024)
    s.socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk)
      try {
        for (let f = decoder.next(); f; f = decoder.next()) if (f.opcode === Op.ERROR) s.errors.push(decodeError(f.body).name)
      } catch {
        s.errors.push('UNREADABLE')
      }
    })
    s.socket.on('close', () => (s.closedAt = Date.now()))
    s.socket.on('error', () => {})
    s.socket.once('connect', () => resolve(s))
    s.socket.once('error', reject)
  })
}

/** Open `n` strangers, `batch` at a time (the listen backlog is finite). */
async function strangers(port: number, n: number, batch = 200): Promise<Stranger[]> {
  const out: Stranger[] = []
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => stranger(port)))))
  return out
}

/** Publish with confirms in a loop until stop() is called; counts confirms and failures. */
function keepPublishing(client: Client) {
  const producer = client.producer()
  const state = { confirmed: 0, failed: [] as string[], running: true }
  const done = (async () => {
    for (let i = 0; state.running && i < 100_000; i++) {
      try {
        await producer.publish('orders.steady', `m${i}`)
        state.confirmed++
      } catch (err) {
        state.failed.push((err as Error).message)
      }
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  return {
    state,
    stop: async () => {
      state.running = false
      await done
    },
  }
}

t.test('200 idle sockets, a 4 GiB length prefix and 64 KiB of garbage are all cut off within 4 s', async (t) => {
  const { broker } = await authBroker(t, [{ name: 'app', token: TOKENS.app, publish: ['orders.>'] }])
  const good = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'good', token: TOKENS.app })
  t.teardown(() => good.close())
  await good.producer().publish('orders.steady', 'warm-up')
  const rssBefore = rssMiB()
  const load = keepPublishing(good)

  const start = Date.now()
  const idle = await strangers(broker.port, 200)
  const [huge, garbage, fullFrame] = await strangers(broker.port, 3)
  huge!.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, Op.HELLO]))
  garbage!.socket.write(crypto.randomBytes(64 * 1024))
  // A frame exactly at the pre-HELLO limit that is not HELLO: buffered whole, then refused.
  const full = crypto.randomBytes(64 * 1024 + 4)
  full.writeUInt32BE(64 * 1024, 0)
  full[4] = Op.PUBLISH
  fullFrame!.socket.write(full)

  const all = [...idle, huge!, garbage!, fullFrame!]
  const allClosed = await until(() => all.every((s) => s.closedAt !== undefined), 6000)
  await load.stop()
  t.ok(allClosed, 'every hostile socket was closed')
  const slowest = Math.max(...all.map((s) => (s.closedAt ?? Infinity) - start))
  t.ok(slowest < 4000, `the last one within 4 s of the first connect (${slowest} ms)`)
  t.match(huge!.errors, ['FRAME_TOO_LARGE'], '4 GiB prefix: FRAME_TOO_LARGE')
  t.ok(['FRAME_TOO_LARGE', 'BAD_FRAME', 'UNAUTHORIZED'].includes(garbage!.errors[0]!), `garbage: ${garbage!.errors[0]}`)
  t.match(fullFrame!.errors, ['UNAUTHORIZED'], 'a full-size frame before HELLO: UNAUTHORIZED')
  t.ok(idle.every((s) => s.errors[0] === 'UNAUTHORIZED'), 'each idle socket was told UNAUTHORIZED')
  t.same(load.state.failed, [], 'no publish of the good client failed')
  t.ok(load.state.confirmed > 0, `the good client kept publishing (${load.state.confirmed} confirmed)`)
  const grown = rssMiB() - rssBefore
  t.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MiB (under 64)`)
})

t.test('2,000 sockets that never authenticate are all closed by the auth timeout', async (t) => {
  const { broker } = await authBroker(t, [{ name: 'app', token: TOKENS.app, publish: ['orders.>'] }], { maxConnectionsPerIp: 0 })
  const good = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'good', token: TOKENS.app })
  t.teardown(() => good.close())
  const rssBefore = rssMiB()
  const load = keepPublishing(good)
  const many = await strangers(broker.port, 2000)
  t.teardown(() => many.forEach((s) => s.socket.destroy()))
  const closed = await until(() => many.every((s) => s.closedAt !== undefined), 10_000)
  await load.stop()
  t.ok(closed, `all closed (${many.filter((s) => s.closedAt !== undefined).length} of 2000)`)
  t.equal(many.filter((s) => s.errors[0] === 'UNAUTHORIZED').length, 2000, 'each was told UNAUTHORIZED')
  t.same(load.state.failed, [], 'no publish of the good client failed')
  t.ok(load.state.confirmed > 0, `the good client kept publishing (${load.state.confirmed} confirmed)`)
  const grown = rssMiB() - rssBefore
  t.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MiB (under 64)`)
})
