/**
 * NATS through the `nats` client (nats.js 2.x), in the mode a team wanting
 * each guarantee would pick.
 *
 * Durable scenarios (producers.confirm true: S1, S3, S4, S5, S6): JetStream
 * with file storage, one stream holding the topic's subject (limits retention,
 * so every group reads every message), one durable pull consumer per workload
 * group with explicit acks and max ack pending = maxInFlight. A publish
 * resolves on the JetStream PubAck. It is sent the way the Go client's
 * PublishAsync sends it (nats.js 2.x has no async publish): a plain publish
 * with a reply subject under one inbox subscription, the PubAck matched to its
 * publish by that subject. js.publish() is a request each, and nats.js builds
 * an Error (with a stack) and a timer for every request: in a profile that was
 * half of the producer's CPU, so a user tuning for throughput would not use it. What the PubAck means on the installed
 * nats-server 2.9: the message is written to the file store, not fsynced; 2.9
 * syncs its blocks on a timer (every 2 minutes by default) and when a block
 * is full, and has no `sync_interval` option to sync each write (the option
 * came in 2.10; `nats-server -t` on 2.9.10 rejects it as an unknown field).
 * Acks: JetStream's explicit policy acks one message at a time (AckAll would
 * ack a range, but only for one consumer in order, not competing consumers),
 * so the consumer acks each message after handling it; the acks of one turn
 * leave in one write.
 *
 * Fire-and-forget (S2, confirm false): core NATS publish/subscribe, no
 * JetStream (the server runs without it). At most once: a subscriber that
 * falls more than the server's max_pending (64 MB) behind is cut as a slow
 * consumer. Each group is a queue group, so every group receives every
 * message and the consumers of one group share them; ack 'none'.
 *
 * Partitions: one stream (or subject) per topic; NATS has no partitions.
 */
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, connect, createInbox } from 'nats'
import { startNatsServer } from '../../peers/nats-server.mjs'

export const name = 'nats'

/** Bytes queued in the client and its socket before send() refuses (as skiffmq's client: 8 MiB). */
const SEND_BUFFER_LIMIT = 8 * 1024 * 1024

function isDurable(workload) {
  return workload.producers?.confirm !== false
}

export function durability(workload) {
  return isDurable(workload)
    ? 'confirm before fsync (JetStream file store; nats-server 2.9 syncs every 2 min)'
    : 'none: core NATS pub/sub, at most once'
}

export async function startServer(workload) {
  const durable = isDurable(workload)
  const server = await startNatsServer({ jetstream: durable })
  return { connectInfo: { port: server.port, mode: durable ? 'jetstream' : 'core' }, pid: server.pid, stop: server.stop }
}

function open(connectInfo) {
  // No reconnects: a lost connection is a failed run, not one to paper over.
  return connect({ servers: `127.0.0.1:${connectInfo.port}`, reconnect: false, noEcho: true })
}

/** Stream names may not hold '.', '*', '>' or whitespace; the subject is the topic itself. */
function streamName(topic) {
  return topic.replace(/[^A-Za-z0-9_-]/g, '_')
}

function consumerConfig(group, maxInFlight) {
  return {
    durable_name: group,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ...(maxInFlight === undefined ? {} : { max_ack_pending: maxInFlight }),
  }
}

export async function prepare(connectInfo, { topic, groups }) {
  if (connectInfo.mode !== 'jetstream') return // core NATS: a subject needs no setup
  const nc = await open(connectInfo)
  try {
    const jsm = await nc.jetstreamManager()
    await jsm.streams.add({ name: streamName(topic), subjects: [topic], storage: StorageType.File, retention: RetentionPolicy.Limits, num_replicas: 1 })
    // The durables exist before anything is published; consumer() sets their
    // max ack pending (it knows maxInFlight, prepare does not).
    for (const group of groups) await jsm.consumers.add(streamName(topic), consumerConfig(group))
  } finally {
    await nc.close()
  }
}

export async function producer(connectInfo, { topic }) {
  const nc = await open(connectInfo)
  const acks = connectInfo.mode === 'jetstream' ? await pubAcks(nc) : null
  const protocol = nc.protocol
  const queuedBytes = () => protocol.outbound.size() + (protocol.transport?.socket?.writableLength ?? 0)
  return {
    // The client holds the payload until its next flush (a microtask later)
    // and the caller may reuse it at once: each message gets its own copy.
    async publish(payload) {
      const copy = Buffer.from(payload)
      if (acks !== null) {
        await acks.publish(topic, copy)
      } else {
        // Core NATS has no per-message confirm: a PING/PONG round trip says the server has read it.
        nc.publish(topic, copy)
        await nc.flush()
      }
    },
    send(payload) {
      if (queuedBytes() > SEND_BUFFER_LIMIT) return false
      nc.publish(topic, Buffer.from(payload))
      return true
    },
    // PING/PONG: the server has read everything sent before it.
    flush: () => nc.flush(),
    async close() {
      await nc.drain().catch(() => nc.close())
    },
  }
}

/**
 * JetStream publishes confirmed by PubAck without a request each: every
 * publish names a reply subject `<inbox>.<n>`, and one subscription on
 * `<inbox>.*` settles publish n when its PubAck (or error) arrives.
 */
async function pubAcks(nc) {
  const inbox = createInbox()
  const prefixLength = inbox.length + 1
  const pending = new Map()
  let next = 0
  nc.subscribe(`${inbox}.*`, {
    callback: (err, m) => {
      if (err !== null) return
      const id = m.subject.slice(prefixLength)
      const waiter = pending.get(id)
      if (waiter === undefined) return
      pending.delete(id)
      // A status message (503: no stream for the subject) or an error reply fails the publish.
      if (m.headers?.hasError) return waiter.reject(new Error(`JetStream publish failed: ${m.headers.code} ${m.headers.description}`))
      const reply = m.json()
      if (reply.error !== undefined) return waiter.reject(new Error(`JetStream publish failed: ${reply.error.code} ${reply.error.description}`))
      waiter.resolve()
    },
  })
  // A lost connection fails what is still waiting instead of leaving it unsettled.
  nc.closed().then((err) => {
    for (const waiter of pending.values()) waiter.reject(err ?? new Error('NATS connection closed before the PubAck'))
    pending.clear()
  })
  // The SUB is at the server before the first publish can ask for a reply.
  await nc.flush()
  return {
    publish(subject, data) {
      const id = String(next++)
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        nc.publish(subject, data, { reply: `${inbox}.${id}` })
      })
    },
  }
}

export async function consumer(connectInfo, { topic, group, maxInFlight, ack }, onMessage) {
  const nc = await open(connectInfo)
  const toBuffer = (data) => Buffer.from(data.buffer, data.byteOffset, data.byteLength)

  if (connectInfo.mode === 'core') {
    // A queue group per workload group: every group gets every message, the
    // subscribers of one group share them (competing consumers, as S4 has).
    nc.subscribe(topic, { queue: group, callback: (err, m) => err === null && onMessage(toBuffer(m.data)) })
    // The SUB has reached the server once a PING after it is answered.
    await nc.flush()
    return { close: () => nc.close() }
  }

  const js = nc.jetstream()
  const stream = streamName(topic)
  let messages
  if (ack === 'none') {
    // Reading without acks in JetStream is an ordered consumer (ephemeral, no
    // acks, flow-controlled): it reads the whole stream for this connection, so
    // competing consumers in one group would each get everything.
    const ordered = await js.consumers.get(stream)
    messages = await ordered.consume({ max_messages: maxInFlight, callback: (m) => onMessage(toBuffer(m.data)) })
  } else {
    const jsm = await nc.jetstreamManager()
    await jsm.consumers.update(stream, group, { max_ack_pending: maxInFlight })
    const durable = await js.consumers.get(stream, group)
    messages = await durable.consume({
      max_messages: maxInFlight,
      callback: (m) => {
        onMessage(toBuffer(m.data))
        m.ack()
      },
    })
  }
  return {
    async close() {
      await messages.close().catch(() => {})
      await nc.close()
    },
  }
}
