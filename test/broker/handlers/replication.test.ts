/**
 * REPL_FETCH, driven in-process: only the cluster's broker user may fetch
 * replicated partitions (anyone else, even an admin, gets FORBIDDEN and
 * learns nothing), a broker outside a cluster refuses it as INVALID_REQUEST,
 * and a malformed fetch is INVALID_REQUEST; none of them closes the
 * connection.
 */
import t from 'tap'
import { encodeFrame, encodeReplFetch, Op } from '../../../protocol/index.js'
import { errorOf, testGateway } from './harness.js'

const ADMIN = 'admin-token-0123456789abcdef'
const BROKER = 'broker-token-0123456789abcdef'
const fetch = (corr: number) => encodeReplFetch({ corr, brokerId: 2, incarnation: 'i-2', maxWaitMs: 0, partitions: [{ topic: 'orders', partition: 0, leaderEpoch: 1, fetchOffset: 0 }] })

t.test('only the broker user may fetch replicated partitions', async (t) => {
  const gw = await testGateway(t, {
    users: [
      { name: 'ops', token: ADMIN, admin: true, publish: ['>'], subscribe: ['>'] },
      { name: 'peer', token: BROKER, broker: true },
    ],
  })
  const ops = await gw.login('ops', ADMIN)
  t.match(errorOf(await ops.exchange(fetch(3))), { name: 'FORBIDDEN', corr: 3, message: /user ops may not fetch replicated partitions/ }, 'an admin is not a broker')
  t.notOk(ops.closed, 'the connection stays open')
  const peer = await gw.login('peer', BROKER)
  t.match(errorOf(await peer.exchange(fetch(4))), { name: 'INVALID_REQUEST', corr: 4, message: /not in a cluster/ }, 'the broker user reaches the check for a cluster')
})

t.test('a malformed fetch is INVALID_REQUEST', async (t) => {
  const gw = await testGateway(t)
  const c = await gw.login()
  const bad = Buffer.from(encodeReplFetch({ corr: 5, brokerId: 2, incarnation: 'i', maxWaitMs: 0, partitions: [] }))
  const body = { corr: 6, brokerId: 2, incarnation: 'i', maxWaitMs: 0, partitions: 'all' }
  t.match(errorOf(await c.exchange(encodeFrame(Op.REPL_FETCH, body))), { name: 'INVALID_REQUEST', corr: 6 }, 'partitions must be an array')
  t.match(errorOf(await c.exchange(encodeFrame(Op.REPL_FETCH, { ...body, partitions: [{ topic: 'orders', partition: -1, leaderEpoch: 1, fetchOffset: 0 }] }))), { name: 'INVALID_REQUEST', corr: 6 }, 'a partition must be a uint')
  t.match(errorOf(await c.exchange(encodeFrame(Op.REPL_FETCH, { ...body, maxWaitMs: 60_000, partitions: [] }))), { name: 'INVALID_REQUEST', corr: 6 }, 'maxWaitMs is bounded')
  t.match(errorOf(await c.exchange(bad)), { name: 'INVALID_REQUEST', corr: 5 }, 'a well-formed fetch to a single broker')
  t.notOk(c.closed, 'none of them closes the connection')
})
