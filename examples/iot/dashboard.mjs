/** The dashboard: the latest average and heater state per sensor, one line per second. */
import { connect } from 'skiffmq'

const client = await connect(process.env.SKIFF_URL, { name: 'dashboard' }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))
const latest = {} // sensor -> { average, n, heater }
await client.subscribe('averages', { group: 'dashboard', from: 'earliest', autoAck: true }, (msg) => {
  const { sensor, average, n } = msg.decode()
  latest[sensor] = { ...latest[sensor], average, n }
})
await client.subscribe('commands', { group: 'dashboard', from: 'earliest', autoAck: true }, (msg) => {
  const { sensor, heater } = msg.decode()
  latest[sensor] = { ...latest[sensor], heater }
})
const timer = setInterval(() => {
  const cells = Object.keys(latest)
    .sort()
    .map((s) => `${s} ${latest[s].average?.toFixed(2) ?? '-'}°C n=${latest[s].n ?? 0} heater ${latest[s].heater ?? 'off'}`)
  console.log(`dashboard | ${cells.join(' | ') || 'waiting for readings'}`)
}, 1000)
console.log('subscribed to averages and commands')

process.once('SIGTERM', async () => {
  clearInterval(timer)
  await client.close()
  console.log(`@result ${JSON.stringify(latest)}`) // what run.mjs checks
  process.exit(0)
})
