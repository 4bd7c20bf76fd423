/**
 * The processor: keeps a cumulative average per sensor and publishes it to
 * `averages` (keyed by sensor). It publishes before it acks the reading, so a
 * crash in between re-processes, never loses, a reading. It also checks the
 * per-sensor order: each sensor's readings share a partition.
 */
import { connect } from 'skiffmq'

const client = await connect(process.env.SKIFF_URL, { name: 'processor' }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))
for (const [topic, partitions] of [['readings', 4], ['averages', 4], ['commands', 1]]) {
  await client.admin.createTopic(topic, { partitions }).catch((err) => {
    if (err.code !== 'TOPIC_EXISTS') throw err
  })
}
const stats = {} // sensor -> { n, sum, lastSeq, outOfOrder }
const producer = client.producer({ whenFull: 'wait' })
await client.subscribe('readings', { group: 'processor', from: 'earliest' }, async (msg) => {
  const { sensor, seq, celsius } = msg.decode()
  const s = (stats[sensor] ??= { n: 0, sum: 0, lastSeq: 0, outOfOrder: 0 })
  if (seq <= s.lastSeq) s.outOfOrder++
  s.lastSeq = seq
  s.n++
  s.sum += celsius
  await producer.publish('averages', { sensor, average: s.sum / s.n, n: s.n, seq }, { key: sensor })
  msg.ack()
})
console.log('subscribed to readings')

process.once('SIGTERM', async () => {
  await client.close()
  console.log(`@result ${JSON.stringify(stats)}`) // what run.mjs checks
  process.exit(0)
})
