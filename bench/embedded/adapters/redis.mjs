/**
 * Redis through ioredis, in the mode a team wanting each guarantee would pick.
 *
 * Durable scenarios (producers.confirm true: S1, S3, S4, S5, S6): Redis
 * Streams with the append-only file under `appendfsync always`. A publish is
 * XADD; Redis writes and fsyncs the AOF before it sends the reply, so the
 * reply is a confirm after fsync. Each workload group is one consumer group
 * (XGROUP CREATE ... 0 MKSTREAM), so every group reads every entry; a
 * consumer reads with XREADGROUP (COUNT = maxInFlight) and acknowledges each
 * batch it has handled with one XACK naming all its ids (XACK takes many ids:
 * a user tuning for speed acks that way).
 *
 * Fire-and-forget (S2, confirm false): PUBLISH/SUBSCRIBE with no persistence
 * (no AOF, no RDB). It is the faster of Redis's two no-durability modes (a
 * stream without AOF still stores every entry and keeps consumer-group state:
 * 300,000 x 64 B through this adapter, pub/sub 125,000-152,000 msgs/s received
 * against 70,000-79,000 for streams) and it still delivers to a subscriber that keeps up; the server runs with an
 * unbounded pub/sub output buffer so a subscriber behind a burst is not cut.
 * Each group is one subscriber, so every group receives every message.
 *
 * Partitions: one stream (or channel) per topic. Redis has no partitions
 * within a stream; the bench's durable scenarios use one partition anyway.
 */
import Redis from 'ioredis'
import { startRedisServer } from '../../peers/redis-server.mjs'

export const name = 'redis'

/** Bytes of PUBLISH commands sent and not yet answered before send() refuses (as skiffmq's client: 8 MiB). */
const SEND_BUFFER_LIMIT = 8 * 1024 * 1024
/** How long a consumer's XREADGROUP waits for new entries before asking again (ms). */
const BLOCK_MS = 1_000
const FIELD = 'd'

function isDurable(workload) {
  return workload.producers?.confirm !== false
}

export function durability(workload) {
  return isDurable(workload)
    ? 'confirm after fsync (Streams, AOF appendfsync always)'
    : 'none: pub/sub, no persistence, at most once'
}

export async function startServer(workload) {
  const durable = isDurable(workload)
  const server = await startRedisServer({ aof: durable })
  return { connectInfo: { port: server.port, mode: durable ? 'streams' : 'pubsub' }, pid: server.pid, stop: server.stop }
}

function connect(connectInfo) {
  return new Redis({
    host: '127.0.0.1',
    port: connectInfo.port,
    // RESP2: XREADGROUP's reply keeps its [[stream, entries]] shape.
    protocol: 2,
    // Every command issued in one event-loop turn goes out in one write.
    enableAutoPipelining: true,
    // A bench run has no reconnects: a lost connection is a failed run.
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    lazyConnect: true,
  })
}

async function connected(connectInfo) {
  const client = connect(connectInfo)
  await client.connect()
  return client
}

export async function prepare(connectInfo, { topic, groups }) {
  if (connectInfo.mode !== 'streams') return // pub/sub: a channel exists while someone subscribes
  const client = await connected(connectInfo)
  try {
    for (const group of groups) {
      // From id 0: entries added before a consumer first reads are still delivered.
      await client.xgroup('CREATE', topic, group, '0', 'MKSTREAM').catch((err) => {
        if (!/BUSYGROUP/.test(String(err?.message))) throw err
      })
    }
  } finally {
    client.disconnect()
  }
}

export async function producer(connectInfo, { topic }) {
  const client = await connected(connectInfo)
  const streams = connectInfo.mode === 'streams'
  let unansweredBytes = 0
  let last = Promise.resolve()
  return {
    // ioredis keeps the Buffer until the pipeline is written (next turn), and
    // the caller may reuse it at once: each command gets its own copy.
    publish(payload) {
      const copy = Buffer.from(payload)
      const reply = streams ? client.xadd(topic, '*', FIELD, copy) : client.publish(topic, copy)
      last = reply
      return reply.then(() => {})
    },
    send(payload) {
      if (unansweredBytes > SEND_BUFFER_LIMIT) return false
      const copy = Buffer.from(payload)
      unansweredBytes += copy.length
      const reply = streams ? client.xadd(topic, '*', FIELD, copy) : client.publish(topic, copy)
      last = reply.then(
        () => {
          unansweredBytes -= copy.length
        },
        () => {
          unansweredBytes -= copy.length
        },
      )
      return true
    },
    // Replies come in order, so the last command's reply means all were taken.
    async flush() {
      await last
    },
    async close() {
      await last.catch(() => {})
      client.disconnect()
    },
  }
}

export async function consumer(connectInfo, { topic, group, maxInFlight, ack }, onMessage) {
  const client = await connected(connectInfo)
  if (connectInfo.mode === 'pubsub') {
    client.on('messageBuffer', (_channel, message) => onMessage(message))
    await client.subscribe(topic)
    return {
      async close() {
        client.disconnect()
      },
    }
  }

  let closed = false
  // One consumer name per connection: competing consumers of a group (S4) each get their own entries.
  const consumerName = `c-${process.pid}-${Math.random().toString(36).slice(2, 10)}`
  const noAck = ack === 'none' ? ['NOACK'] : []
  const loop = (async () => {
    while (!closed) {
      let reply
      try {
        reply = await client.xreadgroupBuffer('GROUP', group, consumerName, 'COUNT', maxInFlight, 'BLOCK', BLOCK_MS, ...noAck, 'STREAMS', topic, '>')
      } catch (err) {
        if (closed) return
        throw err
      }
      if (reply === null) continue
      const ids = []
      for (const [, entries] of reply) {
        for (const [id, fields] of entries) {
          ids.push(id)
          if (fields !== null) onMessage(fieldValue(fields))
        }
      }
      // One XACK for the whole batch, not awaited: it is pipelined ahead of the
      // next XREADGROUP on the same connection, so the server applies it first.
      if (ack !== 'none' && ids.length > 0) {
        client.xack(topic, group, ...ids).catch((err) => {
          if (!closed) console.error(`redis consumer (${group}): XACK failed: ${err.message}`)
        })
      }
    }
  })()
  loop.catch((err) => {
    if (!closed) console.error(`redis consumer (${group}): ${err.message}`)
  })
  return {
    async close() {
      closed = true
      client.disconnect()
      await loop.catch(() => {})
    },
  }
}

function fieldValue(fields) {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i].toString() === FIELD) return fields[i + 1]
  }
  return Buffer.alloc(0)
}
