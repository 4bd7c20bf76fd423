/**
 * An order worker (one of several in group `order-workers`): validate,
 * reserve stock, charge the (simulated) payment, publishing each status.
 * A declined payment is nacked with a delay and retried; after
 * MAX_DELIVERIES the broker dead-letters the order to `orders.dlq`, which the
 * workers also consume (group `order-failures`) to mark the order failed.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { connect } from 'skiffmq'

const MAX_DELIVERIES = 3
const CATALOG = { 'sku-book': 12.5, 'sku-lamp': 30, 'sku-mug': 8 }
const client = await connect(process.env.SKIFF_URL, { name: process.env.INSTANCE_NAME ?? `order-worker-${process.pid}` }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))
let handled = 0
const producer = client.producer({ whenFull: 'wait' })
const status = (order, s, detail) => producer.publish('order-status', { id: order.id, user: order.user, status: s, detail }, { key: order.id })

function invalid(order) {
  if (!Array.isArray(order.items) || order.items.length === 0) return 'no items'
  for (const it of order.items) {
    if (!(it.sku in CATALOG)) return `unknown item ${it.sku}`
    if (!Number.isInteger(it.qty) || it.qty < 1) return `bad quantity ${it.qty} for ${it.sku}`
  }
  return undefined
}

await client.subscribe('orders', { group: 'order-workers', from: 'earliest', maxDeliveries: MAX_DELIVERIES }, async (msg) => {
  const order = msg.decode()
  handled++
  if (msg.deliveryCount === 1) {
    const why = invalid(order)
    if (why) {
      await status(order, 'rejected', why)
      return msg.term() // nothing to retry: no dead-letter "failed" either, it is already final
    }
    await status(order, 'validated')
    await status(order, 'reserved', order.items.map((i) => `${i.qty}x${i.sku}`).join(' '))
  }
  await sleep(30) // the payment provider
  const total = order.items.reduce((a, i) => a + CATALOG[i.sku] * i.qty, 0)
  if (order.card === '4000-0000-0000-0002') {
    await status(order, 'payment-declined', `attempt ${msg.deliveryCount} of ${MAX_DELIVERIES}`)
    console.log(`order ${order.id.slice(0, 8)}: payment declined (attempt ${msg.deliveryCount}), retry later`)
    return msg.nack({ delayMs: 300 })
  }
  await status(order, 'paid', `${total.toFixed(2)} EUR`)
  await status(order, 'completed')
  console.log(`order ${order.id.slice(0, 8)}: completed (${total.toFixed(2)} EUR)`)
  msg.ack()
})

await client.subscribe('orders.dlq', { group: 'order-failures', from: 'earliest' }, async (msg) => {
  const order = msg.decode()
  // A termed (rejected) order is dead-lettered too; only a delivery-limit one is a failed payment.
  if (msg.headers['x-dlq-reason'] === 'max-deliveries') {
    await status(order, 'failed', `gave up after ${msg.headers['x-dlq-deliveries']} payment attempts`)
    console.log(`order ${order.id.slice(0, 8)}: failed`)
  }
  msg.ack()
})
console.log('subscribed')

process.once('SIGTERM', async () => {
  await client.close()
  console.log(`@result ${JSON.stringify({ handled })}`) // what run.mjs checks
  process.exit(0)
})
