/** Some traffic for the panel to show: a producer (`produce`) or a slow consumer (`consume`) on `clicks`. */
import { setTimeout as sleep } from 'node:timers/promises'
import { connect } from 'skiffmq'

const mode = process.argv[2]
const client = await connect(process.env.SKIFF_URL, { name: `clicks-${mode}` }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))
if (mode === 'produce') {
  await client.admin.createTopic('clicks', { partitions: 3 }).catch((err) => {
    if (err.code !== 'TOPIC_EXISTS') throw err
  })
  const producer = client.producer({ whenFull: 'wait' })
  for (let i = 0; i < 300; i++) {
    await producer.publish('clicks', { page: `/p/${i % 7}`, at: Date.now() }, { key: `user-${i % 11}` })
    if (i % 30 === 0) await sleep(50)
  }
  console.log('published 300 clicks')
  await client.close()
  console.log(`@result ${JSON.stringify({ published: 300 })}`) // what run.mjs checks
} else {
  let seen = 0
  await client.subscribe('clicks', { group: 'analytics', from: 'earliest', maxInFlight: 20 }, async (msg) => {
    await sleep(5) // slow enough that lag builds up and drains visibly
    seen++
    msg.ack()
  })
  console.log('subscribed')
}

process.once('SIGTERM', async () => {
  await client.close()
  process.exit(0)
})
