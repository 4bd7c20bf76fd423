/** Operations: reports what lands in the dead-letter topic, with why. */
import { connectPart } from '../lib/part.mjs'

const client = await connectPart()
await client.subscribe('signups.dlq', { group: 'ops', from: 'earliest' }, async (msg) => {
  const user = msg.decode()
  console.log(`DEAD-LETTERED ${user.email} after ${msg.headers['x-dlq-deliveries']} deliveries (${msg.headers['x-dlq-reason']}) from ${msg.headers['x-dlq-topic']}/${msg.headers['x-dlq-partition']}@${msg.headers['x-dlq-offset']}`)
  msg.ack()
})
console.log('watching signups.dlq')
