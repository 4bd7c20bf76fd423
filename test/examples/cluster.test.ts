import t from 'tap'
import { runExample } from './run-example.js'
import { etcdMissing } from '../cluster/etcd-harness.js'

const missing = etcdMissing()
if (missing) t.skip(missing)
else {
  t.test('cluster: three brokers on etcd, broker 2 restarted under load, every confirmed order consumed', async (t) => {
    const run = await runExample('cluster', 150_000)
    t.equal(run.code, 0, run.output)
    t.match(run.output, /cluster: OK: (\d+)\/\1 confirmed orders consumed across a broker restart/)
  })
}
