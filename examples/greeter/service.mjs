/** The greeting service: answers `greet` requests with a greeting (and takes its time for "sleepy"). */
import { NAME, connectPart, sleep } from '../lib/part.mjs'

let answered = 0
const client = await connectPart(async () => console.log(`answered ${answered} requests`))
await client.serve('greet', async (req) => {
  const { name } = req.decode()
  if (name === 'sleepy') await sleep(2000) // longer than the caller waits: it gets TIMEOUT
  answered++
  return { greeting: `Hello, ${name}!`, by: NAME }
})
console.log('serving greet')
