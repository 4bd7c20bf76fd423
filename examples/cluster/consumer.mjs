/**
 * One consumer of group "billing" on "orders", over the whole cluster: the
 * client subscribes at every broker that leads a partition and merges their
 * deliveries. Acks each order; stops after `SKIFF_EXPECT` distinct ids or on
 * SIGTERM, and reports what it saw.
 */
import { connect } from 'skiffmq'

const client = await connect(process.env.SKIFF_URL, { name: process.env.INSTANCE_NAME })
const consumer = await client.subscribe('orders', { group: 'billing', from: 'earliest' })
console.log('subscribed')
const seen = new Map()
const stop = () => consumer.close()
process.once('SIGTERM', stop)
for await (const m of consumer) {
  const { id } = m.decode()
  seen.set(id, (seen.get(id) ?? 0) + 1)
  m.ack()
  if (seen.size % 100 === 0 && seen.get(id) === 1) console.log(`received ${seen.size}`)
}
console.log(`@result ${JSON.stringify({ ids: [...seen.keys()], repeats: [...seen.values()].filter((n) => n > 1).length })}`)
await client.close()
