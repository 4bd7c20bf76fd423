/**
 * A consumer-group member in its own process that a poison message kills:
 * on receiving a message whose payload starts with "poison" it reports the
 * delivery and SIGKILLs itself, as a consumer that crashes on that message
 * would. Everything else is acked. Uses the built client (dist/).
 *
 *   node poison-member.mjs <url> <topic> <group> <maxDeliveries>
 *
 * Reports one JSON line per event on stdout: {e:'ready'}, {e:'d', o, c, id}
 * for a delivery (offset, delivery count, payload). SIGTERM leaves cleanly.
 */
import { connect } from '../../dist/clients/index.js'

const [url, topic, group, maxDeliveries] = process.argv.slice(2)
if (maxDeliveries === undefined) {
  // Run without arguments (say, by `tap test/reliability/`): not a test of its own.
  process.stdout.write('1..0 # SKIP a helper process of poison-message.test.ts\n')
  process.exit(0)
}
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

const client = await connect(url, { name: 'poison-member', reconnect: false })
client.on('error', () => {})
// One message at a time, so the poison message is the only one a kill takes with it (a message
// acked just before the kill could still be on its way, and would count a delivery too). A long
// ack timeout: only the kills bring the poison message back.
const consumer = await client.subscribe(topic, { group, from: 'earliest', maxInFlight: 1, maxDeliveries: Number(maxDeliveries), ackTimeoutMs: 120_000 })
process.on('SIGTERM', () => {
  consumer
    .close()
    .then(() => client.close())
    .finally(() => process.exit(0))
})
out({ e: 'ready' })
for await (const m of consumer) {
  const id = m.payload.toString()
  out({ e: 'd', o: m.offset, c: m.deliveryCount, id })
  if (id.startsWith('poison')) process.kill(process.pid, 'SIGKILL')
  m.ack()
}
