/**
 * Group admin in a cluster: GROUP_DESCRIBE, GROUP_RESET and GROUP_DELETE
 * asked of one broker act on every partition of the topic, each on its
 * leader (the broker asked forwards the others' shares as the broker user).
 * A reset and a delete reach the partitions' followers too: after the
 * leader of a partition dies, its new leader has the group where the reset
 * put it, and a deleted group does not come back.
 */
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { connect, type Client } from '../../clients/index.js'
import { Op, SUPPORTED_VERSIONS, decodeError, decodeOk, encodeGroupReset, encodeHello } from '../../protocol/index.js'
import { clusterMissing, connectDirect, startCluster, type BrokerCluster } from './broker-cluster.js'
import { sleep, tempDir, until } from '../reliability/harness.js'
import { RawPeer } from '../broker/raw-peer.js'
import { writeAuthFile } from '../security/helpers.js'

const TOPIC = 'ledger'
const GROUP = 'audit'
const RECORDS = 60

async function placement(client: Client) {
  return (await client.admin.metadata([TOPIC])).topics[0]!.partitions
}

/** RECORDS records over the three partitions, read and acked by GROUP; the consumer is still subscribed when this returns. */
async function publishAndConsume(client: Client): Promise<{ close(): Promise<void> }> {
  const producer = client.producer()
  for (let i = 0; i < RECORDS; i++) await producer.publish(TOPIC, `r${i}`, { key: `k${i}` })
  const consumer = await client.subscribe(TOPIC, { group: GROUP, from: 'earliest', autoAck: false })
  let seen = 0
  consumer.on('message', (msg) => {
    msg.ack()
    seen++
  })
  if (!(await until(async () => seen >= RECORDS, 20_000))) throw new Error(`the consumer got ${seen} of ${RECORDS} records`)
  return consumer
}

/** Kill the broker leading `partition` (not broker 1, which the admin client talks to) and wait for a new leader; returns it. */
async function failOver(t: Test, cluster: BrokerCluster, admin: Client, partition: number): Promise<number> {
  const before = (await placement(admin)).find((p) => p.partition === partition)!
  await cluster.brokers[before.leader - 1]!.kill()
  let leader = before.leader
  await until(async () => {
    const now = (await placement(admin)).find((p) => p.partition === partition)
    if (now && now.leader !== before.leader && cluster.brokers[now.leader - 1]!.running) leader = now.leader
    return leader !== before.leader
  }, 20_000)
  t.not(leader, before.leader, `partition ${partition}: broker ${leader} leads after broker ${before.leader} died`)
  return leader
}

/** A partition broker 1 does not lead. */
async function notLedByOne(admin: Client): Promise<number> {
  const p = (await placement(admin)).find((q) => q.leader !== 1)
  if (!p) throw new Error('broker 1 leads every partition')
  return p.partition
}

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a reset asked of one broker moves the group on every leader, and survives a failover', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'group-admin', requestTimeoutMs: 20_000 })
    t.teardown(() => admin.close())
    await admin.admin.createTopic(TOPIC, { partitions: 3, replicationFactor: 3, minInSync: 2 })
    const leaders = new Set((await placement(admin)).map((p) => p.leader))
    t.equal(leaders.size, 3, 'each broker leads one partition')
    const client = await connect(cluster.seeds, { name: 'app', requestTimeoutMs: 20_000, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } })
    t.teardown(() => client.close())

    const consumer = await publishAndConsume(client)
    await t.rejects(admin.admin.resetGroup(TOPIC, GROUP, 'earliest'), { code: 'GROUP_IN_USE' }, 'refused while the group is subscribed on the leaders')
    await consumer.close()
    const acked = await until(async () => {
      const d = await admin.admin.describeGroup(TOPIC, GROUP)
      return d.members === 0 && d.partitions.length === 3 && d.partitions.every((p) => p.committed === p.endOffset && p.endOffset > 0)
    }, 10_000)
    t.ok(acked, 'broker 1 describes the group on all three partitions, everything acked, nobody subscribed')
    const ends = (await admin.admin.describeGroup(TOPIC, GROUP)).partitions.map((p) => p.endOffset)
    t.equal(ends.reduce((a, b) => a + b, 0), RECORDS, `the three partitions hold every record (${ends.join(', ')})`)
    t.same(
      (await admin.admin.describeTopic(TOPIC)).partitionInfo.map((p) => p.endOffset),
      ends,
      'broker 1 describes the topic with the offsets of every leader',
    )

    const dry = await admin.admin.resetGroup(TOPIC, GROUP, 'earliest', { dryRun: true })
    t.same(dry.partitions, ends.map((end, partition) => ({ partition, from: end, to: 0 })), 'a dry run says what each leader would do')
    t.same((await admin.admin.describeGroup(TOPIC, GROUP)).partitions.map((p) => p.committed), ends, 'and changes nothing')

    const reset = await admin.admin.resetGroup(TOPIC, GROUP, 'earliest')
    t.same(reset.partitions, ends.map((end, partition) => ({ partition, from: end, to: 0 })), 'every partition was reset, two of them on other brokers')
    const second = await connectDirect(cluster.seeds[1]!, { name: 'group-admin-2', requestTimeoutMs: 20_000 })
    t.teardown(() => second.close())
    t.same(
      (await second.admin.describeGroup(TOPIC, GROUP)).partitions.map((p) => [p.partition, p.committed]),
      [
        [0, 0],
        [1, 0],
        [2, 0],
      ],
      'broker 2 sees the group at the start of every partition',
    )
    const one = await admin.admin.resetGroup(TOPIC, GROUP, 'latest', { partition: 2 })
    t.same(one.partitions, [{ partition: 2, from: 0, to: ends[2] }], 'one partition alone, wherever its leader is')
    await admin.admin.resetGroup(TOPIC, GROUP, 'earliest', { partition: 2 })

    // The reset reached the followers: the leader of a partition dies, and its new leader has the group at 0.
    await sleep(1500)
    const moved = await notLedByOne(admin)
    await failOver(t, cluster, admin, moved)
    const after = await until(async () => {
      try {
        return (await admin.admin.describeGroup(TOPIC, GROUP)).partitions.find((p) => p.partition === moved)?.committed === 0
      } catch {
        return false
      }
    }, 10_000)
    t.ok(after, `the new leader of partition ${moved} has the group where the reset put it`)

    const again = await client.subscribe(TOPIC, { group: GROUP, from: 'latest' })
    const got = new Set<string>()
    again.on('message', (msg) => got.add(String(msg.payload)))
    t.ok(await until(async () => got.size === RECORDS, 20_000), `every record is delivered again (${got.size} of ${RECORDS})`)
    await again.close()

    // A group with state on one partition only, led by broker 2: broker 1 lists it by asking.
    const q = (await placement(admin)).find((p) => p.leader === 2)!.partition
    const side = await second.subscribeTo(TOPIC, { group: 'side', from: 'earliest' }, undefined, [q])
    await side.close()
    t.same(await admin.admin.listGroups(TOPIC), [
      { topic: TOPIC, group: GROUP },
      { topic: TOPIC, group: 'side' },
    ], 'broker 1 lists the groups of every leader')
    t.same(await admin.admin.listGroups(), await second.admin.listGroups(), 'and so does broker 2, for every topic')
    t.same((await admin.admin.describeGroup(TOPIC, 'side')).partitions.map((p) => p.partition), [q], `it describes the group broker 2 holds on partition ${q}`)
  })

  t.test('a delete removes the group from every leader and its followers; forwarded requests need the broker user', async (t) => {
    const dir = tempDir(t, 'group-admin-auth')
    const tokens = { broker: 'broker-token-0123456789', ops: 'ops-token-0123456789', app: 'app-token-0123456789' }
    const authFile = path.join(dir, 'users.json')
    writeAuthFile(authFile, [
      { name: 'cluster', token: tokens.broker, broker: true },
      { name: 'ops', token: tokens.ops, admin: true },
      { name: 'app', token: tokens.app, publish: ['>'], subscribe: ['>'] },
    ])
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp', '--auth-file', authFile] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'ops', user: 'ops', token: tokens.ops, requestTimeoutMs: 20_000 })
    t.teardown(() => admin.close())
    await admin.admin.createTopic(TOPIC, { partitions: 3, replicationFactor: 3, minInSync: 2 })
    const client = await connect(cluster.seeds, { name: 'app', user: 'app', token: tokens.app, requestTimeoutMs: 20_000, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } })
    t.teardown(() => client.close())
    const consumer = await publishAndConsume(client)
    const stateFiles = () => cluster.brokers.flatMap((b) => [0, 1, 2].map((p) => path.join(b.dataDir, 'topics', TOPIC, String(p), 'groups', `${GROUP}.state`))).filter((f) => fs.existsSync(f))
    t.ok(await until(async () => stateFiles().length === 9, 10_000), `every replica of every partition has the group's state (${stateFiles().length} of 9)`)
    await t.rejects(client.admin.deleteGroup(TOPIC, GROUP, { force: true }), { code: 'FORBIDDEN' }, 'deleting needs the admin permission on the broker asked')
    await t.rejects(admin.admin.deleteGroup(TOPIC, GROUP), { code: 'GROUP_IN_USE' }, 'refused while subscribed')
    await consumer.close()

    // A client marking its reset forwarded to skip the permission check is refused.
    const raw = await RawPeer.connect(cluster.brokers[1]!.port)
    t.teardown(() => raw.socket.destroy())
    raw.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'sneaky', user: 'app', token: tokens.app }))
    t.ok(await raw.waitFor((f) => f.opcode === Op.WELCOME), 'logged in as app')
    raw.write(encodeGroupReset({ corr: 5, topic: TOPIC, group: GROUP, to: 'earliest', partition: 0, forwarded: true }))
    const refused = await raw.waitFor((f) => f.opcode === Op.ERROR || f.opcode === Op.OK)
    t.match(refused && refused.opcode === Op.ERROR && decodeError(refused.body), { corr: 5, name: 'FORBIDDEN', message: /only a broker/ }, 'a forwarded GROUP_RESET from a client is FORBIDDEN')
    if (refused?.opcode === Op.OK) t.comment(JSON.stringify(decodeOk(refused.body)))

    await until(async () => (await admin.admin.describeGroup(TOPIC, GROUP)).members === 0, 10_000)
    const deleted = await admin.admin.deleteGroup(TOPIC, GROUP)
    t.same(deleted, { topic: TOPIC, group: GROUP, partitions: 3, endedSubscriptions: 0 }, 'deleted on all three partitions, through the broker user on the other two')
    await t.rejects(admin.admin.describeGroup(TOPIC, GROUP), { code: 'UNKNOWN_GROUP' }, 'no broker has it')
    await t.rejects(admin.admin.deleteGroup(TOPIC, GROUP), { code: 'UNKNOWN_GROUP' }, 'deleting it again: UNKNOWN_GROUP')

    // The followers dropped their copies: a new leader does not bring the group back.
    t.ok(await until(async () => stateFiles().length === 0, 10_000), `no replica keeps the group's state (${stateFiles().join(', ')})`)
    const moved = await notLedByOne(admin)
    await failOver(t, cluster, admin, moved)
    await sleep(500)
    await t.rejects(admin.admin.describeGroup(TOPIC, GROUP), { code: 'UNKNOWN_GROUP' }, `the new leader of partition ${moved} has no state for the deleted group`)
    const fresh = await client.subscribe(TOPIC, { group: GROUP, from: 'latest' })
    const got: string[] = []
    fresh.on('message', (msg) => got.push(String(msg.payload)))
    await sleep(1000)
    t.same(got, [], "a group subscribed again under the same name is new: it starts at 'latest'")
    await fresh.close()
  })
}
