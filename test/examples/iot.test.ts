import t from 'tap'
import { runExample } from './run-example.js'

t.test('iot: UDP readings -> per-sensor averages in order -> heater commands -> dashboard', async (t) => {
  const run = await runExample('iot')
  t.equal(run.code, 0, run.output)
  t.match(run.output, /iot: OK: 120 UDP readings from 3 sensors processed in order; .* heater on: sensor-2@\d+ sensor-3@\d+/)
})
