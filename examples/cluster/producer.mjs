/**
 * Publishes orders keyed by customer, with confirm, at a steady rate for a
 * fixed count, to a cluster given as seeds in SKIFF_URL (a comma list). The
 * client routes each order to the broker that leads its partition; when a
 * broker dies, the orders for its partitions wait until a follower leads
 * them (about 3 s) and go there (the publish calls resolve then). Reports
 * every confirmed id.
 */
import { connect } from 'skiffmq'

const COUNT = Number(process.env.ORDERS ?? 600)
const client = await connect(process.env.SKIFF_URL, { name: process.env.INSTANCE_NAME, requestTimeoutMs: 30_000 })
const producer = client.producer()
const confirmed = []
const pending = []
for (let i = 0; i < COUNT; i++) {
  const id = `order-${i}`
  pending.push(producer.publish('orders', { id, amount: 10 + (i % 7) }, { key: `customer-${i % 40}` }).then(() => confirmed.push(id)))
  if (i % 50 === 49) console.log(`published ${i + 1}`)
  await new Promise((r) => setTimeout(r, 10))
}
const results = await Promise.allSettled(pending)
const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason?.code ?? String(r.reason))
console.log(`confirmed ${confirmed.length} of ${COUNT}`)
console.log(`@result ${JSON.stringify({ confirmed, failed })}`)
await client.close()
