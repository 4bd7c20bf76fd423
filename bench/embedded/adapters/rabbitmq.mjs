/**
 * RabbitMQ through amqplib (2.x, AMQP 0-9-1), in the mode a team wanting each
 * guarantee would pick.
 *
 * Durable scenarios (producers.confirm true: S1, S3, S4, S5, S6): quorum
 * queues with publisher confirms. The topic is a durable fanout exchange and
 * each workload group one durable quorum queue bound to it, so every group
 * receives every message (S1 is the same with one queue). Messages are
 * persistent; a publish resolves on the channel's confirm, which a quorum
 * queue sends once the message is in its Raft log and that log is fsynced
 * (on this single node, the majority is the node itself).
 * Consumers: prefetch = maxInFlight, manual acks, batched with AMQP's
 * `multiple` flag: after the deliveries of one event-loop turn have been
 * handled, one basic.ack with multiple=true acknowledges all of them, as a
 * user tuning for speed would.
 *
 * Fire-and-forget (S2, confirm false): non-persistent messages through a
 * non-durable fanout exchange to classic non-durable queues, a plain channel
 * (no confirms), consumers with noAck (at most once). RabbitMQ ignores the
 * prefetch for noAck consumers: it pushes as fast as the socket takes.
 *
 * Partitions: one queue per group; a queue is RabbitMQ's unit of order.
 */
import amqp from 'amqplib'
import { startRabbitmqServer } from '../../peers/rabbitmq-server.mjs'

export const name = 'rabbitmq'

/** Bytes queued in the client and its socket before send() refuses (as skiffmq's client: 8 MiB). */
const SEND_BUFFER_LIMIT = 8 * 1024 * 1024
/** A publish's frames around its body: basic.publish with the exchange name, the content header, the body frame's 8 bytes. */
const FRAMING_BYTES = 64

function isDurable(workload) {
  return workload.producers?.confirm !== false
}

export function durability(workload) {
  return isDurable(workload)
    ? 'confirm after fsync (quorum queues, publisher confirms)'
    : 'none: classic non-durable queue, no confirms, noAck'
}

export async function startServer(workload) {
  const durable = isDurable(workload)
  const server = await startRabbitmqServer()
  return { connectInfo: { port: server.port, mode: durable ? 'quorum' : 'transient' }, pid: server.pid, stop: server.stop }
}

async function open(connectInfo) {
  // Heartbeats off: a 2-core machine busy with a bench can miss them, and a
  // run has no idle connection for them to find.
  const conn = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: connectInfo.port, username: 'guest', password: 'guest', heartbeat: 0 })
  // An unhandled 'error' event would throw in the process that holds every
  // client of the run; the operations waiting on the connection fail instead
  // (amqplib rejects them when it closes), and the reason is logged here.
  conn.on('error', (err) => console.error(`rabbitmq connection: ${err.message}`))
  return conn
}

function queueName(topic, group) {
  return `${topic}.${group}`
}

export async function prepare(connectInfo, { topic, groups }) {
  const durable = connectInfo.mode === 'quorum'
  const conn = await open(connectInfo)
  try {
    const ch = await conn.createChannel()
    await ch.assertExchange(topic, 'fanout', { durable })
    for (const group of groups) {
      const queue = queueName(topic, group)
      await ch.assertQueue(queue, durable ? { durable: true, arguments: { 'x-queue-type': 'quorum' } } : { durable: false, autoDelete: false })
      await ch.bindQueue(queue, topic, '')
    }
    await ch.close()
  } finally {
    await conn.close()
  }
}

export async function producer(connectInfo, { topic, confirm }) {
  const conn = await open(connectInfo)
  const persistent = connectInfo.mode === 'quorum'
  // amqplib copies the payload into its frames inside publish(), so the caller may reuse it at once.
  const ch = confirm ? await conn.createConfirmChannel() : await conn.createChannel()
  // Unsent data is bounded in bytes, as in the other adapters (skiffmq's
  // client: 8 MiB): send() refuses (drops) a message while the channel's
  // buffer and the socket hold more than that. amqplib's own mark (publish()
  // returning false) is 1,024 frames, which at 64 B messages is 0.1 MiB and
  // would drop half of a burst that the socket takes a moment later; and it
  // queues the message even when it returns false, so it is not a bound.
  const channelBuffer = conn.connection.channels[ch.ch].buffer
  const socket = conn.connection.stream
  const queuedBytes = (payloadLength) => channelBuffer.writableLength * (payloadLength + FRAMING_BYTES) + socket.writableLength
  return {
    publish(payload) {
      return new Promise((resolve, reject) => {
        if (!confirm) {
          ch.publish(topic, '', payload, { persistent })
          return resolve()
        }
        ch.publish(topic, '', payload, { persistent }, (err) => (err ? reject(err) : resolve()))
      })
    },
    send(payload) {
      if (queuedBytes(payload.length) > SEND_BUFFER_LIMIT) return false
      ch.publish(topic, '', payload, { persistent })
      return true
    },
    async flush() {
      if (confirm) return ch.waitForConfirms()
      // Nothing to wait for in AMQP without confirms: wait until the client's
      // buffers and the socket have handed everything to the kernel.
      while (channelBuffer.writableLength > 0 || socket.writableLength > 0) await new Promise((resolve) => setTimeout(resolve, 1))
    },
    async close() {
      await ch.close().catch(() => {})
      await conn.close().catch(() => {})
    },
  }
}

export async function consumer(connectInfo, { topic, group, maxInFlight, ack }, onMessage) {
  const conn = await open(connectInfo)
  const ch = await conn.createChannel()
  const noAck = ack === 'none' || connectInfo.mode === 'transient'
  await ch.prefetch(maxInFlight)
  let last = null
  let ackScheduled = false
  const ackBatch = () => {
    ackScheduled = false
    if (last === null) return
    // multiple=true: every delivery on this channel up to this one.
    ch.ack(last, true)
    last = null
  }
  const { consumerTag } = await ch.consume(
    queueName(topic, group),
    (msg) => {
      if (msg === null) return // the queue was deleted
      onMessage(msg.content)
      if (noAck) return
      last = msg
      if (!ackScheduled) {
        ackScheduled = true
        setImmediate(ackBatch)
      }
    },
    { noAck },
  )
  return {
    async close() {
      await ch.cancel(consumerTag).catch(() => {})
      ackBatch()
      await ch.close().catch(() => {})
      await conn.close().catch(() => {})
    },
  }
}
