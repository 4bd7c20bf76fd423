/** Creates "orders" with 6 partitions, placed over the cluster's brokers; prints who leads what. */
import { connect } from 'skiffmq'

const client = await connect(process.env.SKIFF_URL, { name: 'setup' })
await client.admin.createTopic('orders', { partitions: 6 })
const md = await client.admin.metadata(['orders'])
console.log(`orders: ${md.topics[0].partitions.map((p) => `p${p.partition}@broker-${p.leader}`).join(' ')}`)
console.log('@result {}')
await client.close()
