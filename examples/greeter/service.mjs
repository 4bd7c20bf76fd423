/** The greeting service: answers `greet` requests with a greeting (and takes its time for "sleepy"). */
import { setTimeout as sleep } from 'node:timers/promises'
import { connect } from 'skiffmq'

const name = process.env.INSTANCE_NAME ?? `greeter-${process.pid}` // run.mjs starts two, service-1 and service-2
const client = await connect(process.env.SKIFF_URL, { name }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))

let answered = 0
await client.serve('greet', async (req) => {
  const { name: who } = req.decode()
  if (who === 'sleepy') await sleep(2000) // longer than the caller waits: it gets TIMEOUT
  answered++
  return { greeting: `Hello, ${who}!`, by: name }
})
console.log('serving greet')

process.once('SIGTERM', async () => {
  console.log(`answered ${answered} requests`)
  await client.close()
  process.exit(0)
})
