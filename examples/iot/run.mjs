/** IoT: sensors -> UDP telemetry -> processor (averages) -> actuator (heater commands) -> dashboard. */
// Demo scaffolding: stages the parts in this folder with a throwaway broker and checks the outcome.
// In your project the parts run on their own, pointed at your broker by SKIFF_URL.
import { check, runExample } from '../lib/demo-runner.mjs'

const here = (f) => new URL(f, import.meta.url).pathname
const SENSORS = [
  ['sensor-1', 'cool'],
  ['sensor-2', 'hot'],
  ['sensor-3', 'warming'],
]

await runExample('iot', async (ctx) => {
  const processor = ctx.part('processor', here('processor.mjs'))
  await processor.waitFor(/subscribed/) // it creates the topics
  const actuator = ctx.part('actuator', here('actuator.mjs'))
  const dashboard = ctx.part('dashboard', here('dashboard.mjs'))
  await Promise.all([actuator, dashboard].map((p) => p.waitFor(/subscribed/)))
  const sensors = SENSORS.map(([id, profile]) => ctx.part(id, here('sensor.mjs'), [id, profile]))
  const sent = await Promise.all(sensors.map((s) => s.result()))

  // Done when every reading sent is in `readings` and every stage has settled all it was given
  // (the broker's /api/overview: no lag, nothing in flight for any group), in two polls in a row.
  // This waits for the pipeline to go idle, not for the outcome checked below: bounded, and a
  // lost UDP datagram shows up as a miss in the checks.
  const total = sent.reduce((a, s) => a + s.sent, 0)
  const settled = async () => {
    const o = await (await fetch(`http://127.0.0.1:${ctx.httpPort}/api/overview`)).json()
    const readings = o.topics.find((t) => t.topic === 'readings')?.messages
    return readings === total && o.groups.length === 4 && o.groups.every((g) => g.lag === 0 && g.inFlight === 0)
  }
  for (let i = 0, inARow = 0; i < 150 && inARow < 2; i++) {
    inARow = (await settled()) ? inARow + 1 : 0
    await new Promise((r) => setTimeout(r, 100))
  }
  await Promise.all([processor, actuator, dashboard].map((p) => p.stop()))
  const [stats, act, board] = await Promise.all([processor, actuator, dashboard].map((p) => p.result()))

  for (const s of sent) {
    const got = stats[s.sensor]
    check(got?.n === s.sent, `${s.sensor}: all ${s.sent} UDP readings processed (got ${got?.n})`)
    check(got.outOfOrder === 0, `${s.sensor}: readings processed in order (${got.outOfOrder} out of order)`)
    check(Math.abs(board[s.sensor].average - s.average) < 1e-9, `${s.sensor}: dashboard average ${board[s.sensor].average} = sensor's own ${s.average}`)
  }
  check(act.heaters['sensor-1'] === undefined, 'the cool sensor never turned its heater on')
  check(act.heaters['sensor-2'] === 'on', 'the hot sensor has its heater on')
  check(act.commands.some((c) => c.sensor === 'sensor-3' && c.heater === 'on'), 'the warming sensor turned its heater on once its average passed 25')
  check(board['sensor-2'].heater === 'on', 'the dashboard shows the hot sensor heating')
  const on = act.commands.filter((c) => c.heater === 'on').map((c) => `${c.sensor}@${c.afterReadings}`)
  return `${total} UDP readings from ${sent.length} sensors processed in order; averages ${sent.map((s) => `${s.sensor}=${s.average.toFixed(2)}`).join(' ')}; heater on: ${on.join(' ')}`
})
