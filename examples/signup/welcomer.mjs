/**
 * A welcome-email worker: one of two competing consumers in group `welcome-email`.
 * A sign-up it cannot handle is nacked with a delay (retried); after
 * maxDeliveries the broker moves it to `signups.dlq`.
 */
import { connectPart, result, sleep } from '../lib/part.mjs'

const MAX_DELIVERIES = 3
let sent = 0
let retried = 0
const client = await connectPart(async () => result({ sent, retried }))
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
