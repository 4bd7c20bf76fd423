/** The caller: 100 concurrent greet requests, then the failure cases (nobody serves, too slow). */
import { connect } from 'skiffmq'

const client = await connect(process.env.SKIFF_URL, { name: 'caller' }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))
const names = Array.from({ length: 100 }, (_, i) => `user-${i}`)
const replies = await Promise.all(names.map((name) => client.request('greet', { name }, { timeoutMs: 10_000 })))
const correct = replies.filter((r, i) => r.decode().greeting === `Hello, ${names[i]}!`).length
const servers = {}
for (const r of replies) servers[r.decode().by] = (servers[r.decode().by] ?? 0) + 1
console.log(`${correct}/100 replies correct; answered by ${JSON.stringify(servers)}`)

// A failed request rejects with an error whose code is the broker's error code name.
const failure = (p) => p.then(() => 'OK', (err) => err.code)
const nobody = await failure(client.request('farewell', { name: 'x' }, { timeoutMs: 2000 }))
const slow = await failure(client.request('greet', { name: 'sleepy' }, { timeoutMs: 300 }))
console.log(`request nobody serves: ${nobody}; request slower than its timeout: ${slow}`)
await client.close()
console.log(`@result ${JSON.stringify({ correct, servers, nobody, slow })}`) // what run.mjs checks
