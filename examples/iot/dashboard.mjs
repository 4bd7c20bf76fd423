/** The dashboard: the latest average and heater state per sensor, one line per second. */
import { connectPart, result } from '../lib/part.mjs'

const latest = {} // sensor -> { average, n, heater }
const client = await connectPart(async () => {
  clearInterval(timer)
  result(latest)
})
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
