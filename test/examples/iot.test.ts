import t from 'tap'
import { runExample } from './run-example.js'

t.test('iot: UDP readings -> per-sensor averages in order -> heater commands -> dashboard', async (t) => {
  const run = await runExample('iot')
  t.equal(run.code, 0, run.output)
  const ok = /iot: OK: 120 UDP readings from 3 sensors processed in order; .* heater on: ([^()]+) \(/.exec(run.output)
  t.ok(ok, `summary line in:\n${run.output}`)
  // The hot and the warming sensor turn their heaters on, in whichever order their readings were
  // processed; the cool one never does.
  const heatersOn = (ok?.[1] ?? '').trim().split(' ')
  t.same(heatersOn.map((on) => on.replace(/@\d+$/, '')).sort(), ['sensor-2', 'sensor-3'], heatersOn.join(' '))
})
