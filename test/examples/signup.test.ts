import t from 'tap'
import { runExample } from './run-example.js'

t.test('signup: two competing consumers welcome 19 users; the bad record is retried, then dead-lettered', async (t) => {
  const run = await runExample('signup')
  t.equal(run.code, 0, run.output)
  t.match(run.output, /signup: OK: 19\/19 welcome emails .* dead-lettered to signups\.dlq/)
  t.match(run.output, /DEAD-LETTERED not-an-email after 3 deliveries/)
})
