import t from 'tap'
import { runExample } from './run-example.js'

t.test('panel example: the overview shows the topic and the lag rising then falling to 0', async (t) => {
  const run = await runExample('panel')
  t.equal(run.code, 0, run.output)
  t.match(run.output, /panel: OK: clicks: 300 messages in 3 partitions; group analytics lag peaked at [1-9]\d*, now 0/)
})
