/** Some traffic for the panel to show: a producer (`produce`) or a slow consumer (`consume`) on `clicks`. */
import { connectPart, result, sleep } from '../lib/part.mjs'

const mode = process.argv[2]
const client = await connectPart()
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
  result({ published: 300 })
} else {
  let seen = 0
  await client.subscribe('clicks', { group: 'analytics', from: 'earliest', maxInFlight: 20 }, async (msg) => {
    await sleep(5) // slow enough that lag builds up and drains visibly
    seen++
    msg.ack()
  })
  console.log('subscribed')
}
