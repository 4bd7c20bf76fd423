/**
 * A temperature sensor: sends readings over UDP telemetry (fire and forget),
 * keyed by its id so all its readings land in one partition, in order.
 * Usage: sensor.mjs <id> <profile: cool | hot | warming>
 * SKIFF_TELEMETRY_URL names the broker's UDP port (default udp://127.0.0.1:7600).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { telemetry } from 'skiffmq'

const [id = `sensor-${process.pid}`, profile = 'cool'] = process.argv.slice(2)
const COUNT = 40
const temperature = (i) => {
  const wobble = Math.sin(i) * 0.5
  if (profile === 'hot') return 29 + wobble
  if (profile === 'warming') return 18 + (16 * i) / (COUNT - 1) + wobble // 18 -> 34
  return 20 + wobble
}
const udp = telemetry(process.env.SKIFF_TELEMETRY_URL ?? 'udp://127.0.0.1:7600')
let sum = 0
for (let seq = 1; seq <= COUNT; seq++) {
  const celsius = Math.round(temperature(seq - 1) * 100) / 100
  sum += celsius
  udp.send('readings', { sensor: id, seq, celsius }, { key: id })
  await sleep(25)
}
await udp.close()
console.log(`${id}: sent ${COUNT} readings over UDP (${profile})`)
console.log(`@result ${JSON.stringify({ sensor: id, sent: COUNT, average: sum / COUNT })}`) // what run.mjs checks
