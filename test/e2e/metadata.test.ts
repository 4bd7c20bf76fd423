/**
 * METADATA and the broker's identity on a single broker: WELCOME names the
 * broker and its cluster (the data directory's id, kept across restarts),
 * METADATA answers with the broker itself leading every partition at the
 * address the client reached (or --advertise), filtered by what the user may
 * describe. A malformed request is INVALID_REQUEST and the connection stays.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { Op, encodeFrame, decodeError, decodeOk, isClusterMetadata } from '../../protocol/index.js'
import { RawPeer } from '../broker/raw-peer.js'
import { startTestBroker } from './helpers.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('a single broker is broker 0 of a cluster named by its data directory, across restarts', async (t) => {
  const tb = await startTestBroker(t, 2)
  const client = await tb.client()
  const { brokerId, clusterId } = client.welcome
  t.equal(brokerId, 0)
  t.match(clusterId, UUID)
  t.equal(fs.readFileSync(path.join(tb.dataDir, 'dir-id'), 'utf8').trim(), clusterId, 'stamped in the data directory')
  await tb.restart()
  const again = await tb.client()
  t.equal(again.welcome.clusterId, clusterId, 'the same id after a restart')
})

t.test('METADATA: the broker leads every partition of every topic, at the address the client reached', async (t) => {
  const tb = await startTestBroker(t, 2)
  const client = await tb.client()
  await client.admin.createTopic('md-orders', { partitions: 3 })
  await client.admin.createTopic('md-audit', { partitions: 1 })
  const md = await client.admin.metadata()
  t.equal(md.clusterId, client.welcome.clusterId)
  t.same(md.brokers, [{ id: 0, host: '127.0.0.1', port: tb.broker.port }])
  const orders = md.topics.find((x) => x.topic === 'md-orders')
  t.same(
    orders?.partitions,
    [0, 1, 2].map((partition) => ({ partition, leader: 0, leaderEpoch: 0, replicas: [0], isr: [0] })),
  )
  t.ok(md.topics.some((x) => x.topic === 'md-audit'))

  const only = await client.admin.metadata(['md-audit', 'md-no-such-topic'])
  t.same(
    only.topics.map((x) => x.topic),
    ['md-audit'],
    'only the topics named, and one that does not exist is left out',
  )
  await t.rejects(client.admin.metadata(['bad name!']), { code: 'INVALID_REQUEST' }, 'a bad topic name is refused before sending')
})

t.test('METADATA gives the --advertise address when set', async (t) => {
  const tb = await startTestBroker(t, 1, { advertise: 'broker-1.example.internal:17600' })
  const client = await tb.client()
  const md = await client.admin.metadata()
  t.same(md.brokers, [{ id: 0, host: 'broker-1.example.internal', port: 17600 }])
})

t.test('an --advertise that is not host:port stops the start with a message naming it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-md-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const bad of ['broker-1', 'broker-1:0', 'broker-1:70000', ':7600']) {
    await t.rejects(startTestBroker(t, 1, { advertise: bad }), { message: /advertise must be host:port/ }, bad)
  }
})

t.test('METADATA lists only the topics the user may describe', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-md-acl-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const authFile = path.join(dir, 'users.json')
  fs.writeFileSync(
    authFile,
    JSON.stringify({
      users: [
        { name: 'ops', token: 'ops-token-0123456789abcdef', admin: true },
        { name: 'app', token: 'app-token-0123456789abcdef', publish: ['md-app.>'] },
      ],
    }),
  )
  const tb = await startTestBroker(t, 1, { authFile })
  const ops = await tb.client({ user: 'ops', token: 'ops-token-0123456789abcdef' })
  await ops.admin.createTopic('md-app.orders')
  await ops.admin.createTopic('md-secret')
  const app = await tb.client({ user: 'app', token: 'app-token-0123456789abcdef' })
  t.same(
    (await app.admin.metadata()).topics.map((x) => x.topic),
    ['md-app.orders'],
    'a producer sees where its own topic lives, and nothing else',
  )
  t.same((await app.admin.metadata(['md-secret'])).topics, [], 'a topic it may not use is left out, as one that does not exist')
  t.same((await ops.admin.metadata()).topics.map((x) => x.topic).sort(), ['md-app.orders', 'md-secret'])
})

t.test('a malformed METADATA is INVALID_REQUEST with its corr, and the connection stays open', async (t) => {
  const tb = await startTestBroker(t, 1)
  const peer = await RawPeer.ready(tb.broker.port)
  t.teardown(() => peer.socket.destroy())
  for (const [corr, topics] of [
    [1, 'orders'],
    [2, [1, 2]],
    [3, Array.from({ length: 1001 }, (_, i) => `t${i}`)],
  ] as const) {
    peer.write(encodeFrame(Op.METADATA, { corr, topics }))
    const answer = await peer.waitFor((f) => f.opcode === Op.ERROR && decodeError(f.body).corr === corr)
    t.match(answer && decodeError(answer.body), { corr, name: 'INVALID_REQUEST', message: /METADATA\.topics/ }, `topics ${JSON.stringify(topics).slice(0, 20)}`)
  }
  peer.write(encodeFrame(Op.METADATA, { corr: 4 }))
  const ok = await peer.waitFor((f) => f.opcode === Op.OK)
  t.ok(ok && isClusterMetadata(decodeOk(ok.body).result), 'the same connection still gets answers')
  t.notOk(peer.closed)
})
