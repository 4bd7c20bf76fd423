/** Operations: reports what lands in the dead-letter topic, with why. */
import { connect } from 'skiffmq'

const client = await connect(process.env.SKIFF_URL, { name: 'dlq-reporter' }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))
await client.subscribe('signups.dlq', { group: 'ops', from: 'earliest' }, async (msg) => {
  const user = msg.decode()
  const h = msg.headers // the broker's x-dlq-* headers say where the message came from and why
  console.log(`DEAD-LETTERED ${user.email} after ${h['x-dlq-deliveries']} deliveries (${h['x-dlq-reason']}) from ${h['x-dlq-topic']}/${h['x-dlq-partition']}@${h['x-dlq-offset']}`)
  msg.ack()
})
console.log('watching signups.dlq')

process.once('SIGTERM', async () => {
  await client.close()
  process.exit(0)
})
