/** The sign-up form's backend: publishes each new user to `signups` (keyed by email), one of them malformed. `create` only creates the topic. */
import { connect } from 'skiffmq'

const client = await connect(process.env.SKIFF_URL, { name: 'signup-producer' }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))
await client.admin.createTopic('signups', { partitions: 4 }).catch((err) => {
  if (err.code !== 'TOPIC_EXISTS') throw err
})
if (process.argv[2] === 'create') {
  await client.close()
  console.log(`@result ${JSON.stringify({ created: 'signups' })}`) // what run.mjs checks
  process.exit(0)
}
const users = Array.from({ length: 19 }, (_, i) => ({ name: `User ${i}`, email: `user${i}@example.com` }))
users.splice(7, 0, { name: 'Broken', email: 'not-an-email' }) // the bad record
const producer = client.producer({ whenFull: 'wait' })
for (const u of users) await producer.publish('signups', u, { key: u.email })
console.log(`published ${users.length} sign-ups`)
await client.close()
console.log(`@result ${JSON.stringify({ published: users.length })}`)
