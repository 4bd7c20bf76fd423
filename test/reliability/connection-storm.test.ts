/**
 * Connection storm: 2,000 clients hit the broker (its own process) in one
 * burst. Most connect, publish one message with confirm and close; some
 * complete the handshake and then reset the connection without a goodbye;
 * some connect and never say HELLO; some send half a frame and reset.
 *
 * Pass: every publish is confirmed and stored; afterwards the broker's
 * connection count (skiff_connections) and its open sockets and descriptors
 * (/proc/<pid>/fd) are back to what they were before the storm, and it
 * still serves a new client.
 *
 * SKIFF_STORM_CLIENTS overrides the 2,000; the test lowers it (and says so)
 * when this process may not open that many descriptors.
 */
import t from 'tap'
import fs from 'node:fs'
import net from 'node:net'
import { connect } from '../../clients/index.js'
import { SUPPORTED_VERSIONS, encodeHello } from '../../protocol/index.js'
import { DEFAULTS } from '../../broker/config.js'
import { BrokerRunner, metricValue, openFds, openSockets, sleep, tempDir, until } from './harness.js'

const TOPIC = 'storm'
const WANTED = Math.max(100, Number(process.env.SKIFF_STORM_CLIENTS) || 2000)

/** The soft limit on open files of this process (its children inherit it). */
function fileLimit(): number {
  const m = /Max open files\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'))
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1])
}

/** A raw socket that says nothing, or half a frame, and is reset or left to the broker's auth timeout. */
function rawVisitor(port: number, kind: 'silent' | 'half-frame' | 'handshake-reset'): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', () => {}) // resets are the point
    const done = () => resolve()
    socket.once('close', done)
    const bound = setTimeout(() => socket.destroy(), 10_000)
    socket.once('close', () => clearTimeout(bound))
    socket.once('connect', () => {
      if (kind === 'silent') return // the broker drops it after its auth timeout
      const hello = encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'storm-raw' })
      if (kind === 'half-frame') {
        socket.write(hello.subarray(0, Math.floor(hello.length / 2)))
        setTimeout(() => socket.resetAndDestroy(), 50)
        return
      }
      socket.write(hello)
      socket.once('data', () => socket.resetAndDestroy()) // WELCOME came: vanish without a goodbye
    })
  })
}

t.test('a burst of 2,000 clients leaves no connection or descriptor behind', async (t) => {
  const limit = fileLimit()
  // Each client costs one descriptor here and one in the broker; leave room for everything else.
  const clients = Math.min(WANTED, Math.floor((limit - 200) / 1.1))
  if (clients < WANTED) t.comment(`open-file limit ${limit}: storming with ${clients} clients instead of ${WANTED}`)
  const dataDir = tempDir(t, 'storm')
  // All clients come from 127.0.0.1: lift the per-address limit (its refusals are tested elsewhere).
  const perIp = 'maxConnectionsPerIp' in DEFAULTS ? ['--max-connections-per-ip', '0'] : []
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2', ...perIp] })
  t.teardown(() => broker.kill())
  await broker.start()
  const admin = await connect(broker.url, { reconnect: false })
  await admin.admin.createTopic(TOPIC, { partitions: 2 })
  await admin.close()
  await sleep(300) // let the broker notice the admin client is gone
  const connections = async () => {
    const m = await broker.metrics()
    return m === undefined ? undefined : metricValue(m, 'skiff_connections')
  }
  const baseline = { connections: await connections(), sockets: openSockets(broker.pid)!, fds: openFds(broker.pid)! }
  t.comment(`before the storm: ${baseline.connections ?? '(no /metrics)'} connections, ${baseline.sockets} sockets, ${baseline.fds} descriptors`)

  const publishers = Math.floor(clients * 0.7)
  const raw = clients - publishers
  let confirmed = 0
  const failures = new Map<string, number>()
  const started = performance.now()
  let peakConnections = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      peakConnections = Math.max(peakConnections, (await connections()) ?? 0)
      await sleep(100)
    }
  })()
  await Promise.all([
    ...Array.from({ length: publishers }, async (_, i) => {
      try {
        const c = await connect(broker.url, { name: `storm-${i}`, reconnect: false, connectTimeoutMs: 20_000, requestTimeoutMs: 20_000 })
        try {
          await c.producer().publish(TOPIC, `m${i}`, { key: `k${i}` })
          confirmed++
        } finally {
          await c.close()
        }
      } catch (err) {
        const code = (err as { codeName?: string }).codeName ?? String(err)
        failures.set(code, (failures.get(code) ?? 0) + 1)
      }
    }),
    ...Array.from({ length: raw }, (_, i) => rawVisitor(broker.port, (['silent', 'half-frame', 'handshake-reset'] as const)[i % 3])),
  ])
  const stormMs = performance.now() - started
  sampling = false
  await sampler
  t.same([...failures], [], `no client failed (${publishers} publishers, ${raw} raw visitors, ${stormMs.toFixed(0)} ms)`)
  t.equal(confirmed, publishers, 'every publish was confirmed')

  const settled = await until(async () => {
    const now = { connections: await connections(), sockets: openSockets(broker.pid), fds: openFds(broker.pid) }
    return now.connections === baseline.connections && now.sockets === baseline.sockets && now.fds !== undefined && now.fds <= baseline.fds + 2 ? now : undefined
  }, 15_000)
  const after = { connections: await connections(), sockets: openSockets(broker.pid), fds: openFds(broker.pid) }
  t.ok(settled, `after the storm: ${after.connections ?? '(no /metrics)'} connections, ${after.sockets} sockets, ${after.fds} descriptors (peak ${peakConnections} connections)`)
  if (baseline.connections !== undefined) t.equal(after.connections, baseline.connections, 'skiff_connections is back to its baseline')
  else t.comment('this build has no /metrics: connections counted by the broker process\'s sockets only')
  t.equal(after.sockets, baseline.sockets, 'the broker holds no socket from the storm')

  const c = await connect(broker.url, { reconnect: false })
  t.teardown(() => c.close())
  const info = await c.admin.describeTopic(TOPIC)
  t.equal(info.partitionInfo.reduce((n, p) => n + p.endOffset, 0), publishers, 'every confirmed message is stored, once')
  const { offset } = await c.producer().publish(TOPIC, 'after', { key: 'after' })
  t.ok(offset >= 0, 'the broker still serves new clients')
})
