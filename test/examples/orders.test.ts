import t from 'tap'
import { runExample } from './run-example.js'

t.test('orders: JWT-protected API, workers, delayed payment retries, failed after max deliveries', async (t) => {
  const run = await runExample('orders')
  t.equal(run.code, 0, run.output)
  t.match(run.output, /orders: OK: 3 orders completed, 1 rejected \(invalid\), 1 failed after 3 declined payments/)
})
