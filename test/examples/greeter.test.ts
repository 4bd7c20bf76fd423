import t from 'tap'
import { runExample } from './run-example.js'

t.test('greeter: 100 concurrent requests, 100 correct replies; NO_RESPONDERS and TIMEOUT', async (t) => {
  const run = await runExample('greeter')
  t.equal(run.code, 0, run.output)
  t.match(run.output, /greeter: OK: 100\/100 greetings answered by service-1=\d+ service-2=\d+/)
})
