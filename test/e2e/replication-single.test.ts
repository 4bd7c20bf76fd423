/**
 * A single broker (no --cluster) keeps one copy of each partition: TOPIC_CREATE
 * takes replicationFactor and minInSync only as 1, refuses anything else with
 * INVALID_REQUEST naming the field, and describes every topic as 1/1, through
 * the client and the CLI.
 */
import t from 'tap'
import { startTestBroker } from './helpers.js'
import { lines, skiff } from './cli-run.js'

t.test('a single broker takes replicationFactor and minInSync only as 1', async (t) => {
  const tb = await startTestBroker(t, 1)
  const client = await tb.client()

  const d = await client.admin.createTopic('rs-one', { partitions: 2, replicationFactor: 1, minInSync: 1 })
  t.match(d, { topic: 'rs-one', partitions: 2, replicationFactor: 1, minInSync: 1 })
  t.equal(d.placement, undefined, 'no cluster placement on a single broker')
  const plain = await client.admin.createTopic('rs-plain', { partitions: 1 })
  t.match(plain, { replicationFactor: 1, minInSync: 1 }, 'without the fields: one copy')
  t.match(await client.admin.describeTopic('rs-plain'), { replicationFactor: 1, minInSync: 1 })

  await t.rejects(client.admin.createTopic('rs-three', { replicationFactor: 3 }), {
    code: 'INVALID_REQUEST',
    message: /replicationFactor 3 .*a single broker keeps one copy of each partition/,
  })
  await t.rejects(client.admin.createTopic('rs-three', { minInSync: 2 }), {
    code: 'INVALID_REQUEST',
    message: /minInSync 2 .*a single broker keeps one copy of each partition/,
  })
  await t.rejects(client.admin.createTopic('rs-three', { replicationFactor: 0 }), { code: 'INVALID_REQUEST', message: /replicationFactor must be an integer from 1 to 64, got 0/ })
  await t.rejects(client.admin.createTopic('rs-three', { replicationFactor: 1.5 }), { code: 'INVALID_REQUEST', message: /replicationFactor/ })
  await t.rejects(client.admin.createTopic('rs-three', { replicationFactor: 1, minInSync: 65 }), { code: 'INVALID_REQUEST', message: /minInSync must be an integer from 1 to 64, got 65/ })
  t.notOk((await client.admin.listTopics()).some((x) => x.topic === 'rs-three'), 'a refused topic is not created')

  // The CLI: its flags, its refusal, and describe's replication line.
  let r = await skiff(['topics', 'create', 'rs-cli', '--replication-factor', '2'], { url: tb.url })
  t.match(r, { code: 1, out: '', err: /a single broker keeps one copy of each partition.*\[INVALID_REQUEST\]/ })
  r = await skiff(['topics', 'create', 'rs-cli', '--min-in-sync', 'x'], { url: tb.url })
  t.match(r, { code: 1, err: /--min-in-sync must be a positive integer/ })
  r = await skiff(['topics', 'create', 'rs-cli', '--replication-factor', '1', '--min-in-sync', '1'], { url: tb.url })
  t.same(r, { code: 0, out: 'created topic rs-cli with 1 partition\n', err: '' })
  r = await skiff(['topics', 'describe', 'rs-cli'], { url: tb.url })
  t.match(r.out, /\n\s+replication\s+1 copy per partition, 1 in sync to confirm a publish\n/)
  t.match(r.out, /PARTITION\s+START\s+END/, 'the single-broker table, without placement columns')
  t.equal(lines(r.out).filter((l) => /^\d+\s/.test(l)).length, 1, 'a row per partition')
})
