/**
 * A welcome-email worker: one of two competing consumers in group `welcome-email`.
 * A sign-up it cannot handle is nacked with a delay (retried); after
 * maxDeliveries the broker moves it to `signups.dlq`.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { connect } from 'skiffmq'

const MAX_DELIVERIES = 3
const name = process.env.INSTANCE_NAME ?? `welcomer-${process.pid}`
const client = await connect(process.env.SKIFF_URL, { name }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))

let sent = 0
let retried = 0
await client.subscribe('signups', { group: 'welcome-email', from: 'earliest', maxDeliveries: MAX_DELIVERIES }, async (msg) => {
  const user = msg.decode()
  if (!/^[^@\s]+@[^@\s]+\.[a-z]+$/i.test(user.email)) {
    retried++
    console.log(`cannot send to "${user.email}" (delivery ${msg.deliveryCount} of ${MAX_DELIVERIES}), retrying later`)
    msg.nack({ delayMs: 200 })
    return
  }
  await sleep(20) // sending an email takes a moment
  sent++
  console.log(`welcome email sent to ${user.name} <${user.email}>`)
  msg.ack()
})
console.log('subscribed')

// Stop cleanly: close() waits for the messages being handled to be settled.
process.once('SIGTERM', async () => {
  await client.close()
  console.log(`@result ${JSON.stringify({ sent, retried })}`) // what run.mjs checks
  process.exit(0)
})
