/**
 * The CLI for the group and topic management commands and for `skiff sub`
 * without a group or on an unknown topic, run in-process (cli-run.ts)
 * against a real broker.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { lines, skiff } from './cli-run.js'
import { eventually, startTestBroker } from './helpers.js'
import { formatBytes, formatDuration, parseBytes, parseDuration } from '../../cli/commands/units.js'

t.test('groups delete and reset, topics purge and alter, sub without a group', async (t) => {
  const tb = await startTestBroker(t, 2)
  const url = tb.url
  const client = await tb.client()
  await client.admin.createTopic('cli-m', { partitions: 2 })
  const producer = client.producer()
  for (let i = 0; i < 6; i++) await producer.publish('cli-m', `m${i}`, { key: `k${i}` })

  t.test('groups reset prints old -> new per partition; --dry-run changes nothing', async (t) => {
    let r = await skiff(['sub', 'cli-m', '-g', 'readers', '--from', 'earliest', '--count', '6'], { url })
    t.equal(r.code, 0, r.err)
    await eventually('the acks to land', async () => (await client.admin.describeGroup('cli-m', 'readers')).partitions.every((p) => p.lag === 0))
    const ends = (await client.admin.describeTopic('cli-m')).partitionInfo.map((p) => p.endOffset)

    r = await skiff(['groups', 'reset', 'cli-m', 'readers', '--to', 'earliest', '--dry-run'], { url })
    t.same(r, { code: 0, err: '', out: `group readers on cli-m would move (dry run, nothing changed):\n  partition 0: ${ends[0]} -> 0\n  partition 1: ${ends[1]} -> 0\n` })
    t.same((await client.admin.describeGroup('cli-m', 'readers')).partitions.map((p) => p.committed), ends)

    r = await skiff(['groups', 'reset', 'cli-m', 'readers', '--to', 'offset:1', '--partition', '1'], { url })
    t.same(r, { code: 0, err: '', out: `reset group readers on cli-m:\n  partition 1: ${ends[1]} -> 1\n` })
    r = await skiff(['groups', 'reset', 'cli-m', 'readers', '--to', `time:${new Date(0).toISOString()}`, '--json'], { url })
    t.same(JSON.parse(r.out).partitions.map((p: { to: number }) => p.to), [0, 0], 'time: with an ISO time')
    r = await skiff(['groups', 'reset', 'cli-m', 'readers', '--to', `time:${Date.now() + 60_000}`], { url })
    t.match(r.out, new RegExp(`partition 0: 0 -> ${ends[0]}`), 'time: with ms; a time after the last message is the end')

    r = await skiff(['groups', 'reset', 'cli-m', 'readers', '--to', 'yesterday'], { url })
    t.same(r, { code: 1, out: '', err: 'skiff groups reset: --to "yesterday" must be earliest, latest, offset:N or time:<ISO time or ms since the epoch>\n' })
    r = await skiff(['groups', 'reset', 'cli-m', 'readers'], { url })
    t.match(r, { code: 1, err: /^skiff groups reset: Missing required argument: to/ })
  })

  t.test('groups delete, refused while in use, then forced', async (t) => {
    const member = await client.subscribe('cli-m', { group: 'busy' })
    let r = await skiff(['groups', 'delete', 'cli-m', 'busy'], { url })
    t.match(r, { code: 1, out: '', err: /^skiff groups delete: group busy of topic cli-m has 1 subscribed member: .* \[GROUP_IN_USE\]\n$/ })
    r = await skiff(['groups', 'reset', 'cli-m', 'busy', '--to', 'latest'], { url })
    t.match(r, { code: 1, err: /\[GROUP_IN_USE\]/ })
    r = await skiff(['groups', 'delete', 'cli-m', 'busy', '--force'], { url })
    t.same(r, { code: 0, err: '', out: 'deleted group busy of cli-m; 1 subscription ended\n' })
    await t.rejects(member.next(), { codeName: 'UNKNOWN_GROUP' })
    r = await skiff(['groups', 'delete', 'cli-m', 'busy'], { url })
    t.match(r, { code: 1, err: /\[UNKNOWN_GROUP\]\n$/ })
  })

  t.test('topics alter and purge', async (t) => {
    const before = await client.admin.describeTopic('cli-m')
    let r = await skiff(['topics', 'alter', 'cli-m', '--retention', '3d', '--retention-bytes', '1GiB', '--partitions', '3'], { url })
    const was = (n: number, unit: 'ms' | 'bytes') => (!n ? 'forever' : unit === 'ms' ? formatDuration(n) : formatBytes(n))
    t.same(r, {
      code: 0,
      err: '',
      out: `altered topic cli-m: partitions 2 -> 3, retention ${was(before.retentionMs, 'ms')} -> 3 days, retention size ${was(before.retentionBytes, 'bytes')} -> 1 GiB\n`,
    })
    r = await skiff(['topics', 'alter', 'cli-m', '--partitions', '2'], { url })
    t.match(r, { code: 1, out: '', err: /^skiff topics alter: topic cli-m has 3 partitions: partitions can only be added, not removed \(asked for 2\) \[INVALID_REQUEST\]\n$/ })
    r = await skiff(['topics', 'alter', 'cli-m'], { url })
    t.same(r, { code: 1, out: '', err: 'skiff topics alter: name something to change: --retention, --retention-bytes, --partitions or --move\n' })
    r = await skiff(['topics', 'alter', 'cli-m', '--retention', 'soon'], { url })
    t.match(r, { code: 1, err: /^skiff topics alter: --retention "soon" must be a duration like 7d or 12h/ })

    r = await skiff(['topics', 'purge', 'cli-m'], { url })
    t.same(r, { code: 1, out: '', err: 'skiff topics purge: stdin is not a terminal, so nobody can confirm: run skiff topics purge cli-m --yes\n' })
    t.equal((await client.admin.describeTopic('cli-m')).partitionInfo.reduce((n, p) => n + p.endOffset - p.startOffset, 0), 6, 'nothing purged without --yes')
    r = await skiff(['topics', 'purge', 'cli-m', '--yes'], { url })
    t.equal(r.code, 0, r.err)
    t.equal(lines(r.out)[0], 'purged 6 messages from cli-m')
    t.equal((await client.admin.describeTopic('cli-m')).partitionInfo.reduce((n, p) => n + p.endOffset - p.startOffset, 0), 0)
  })

  t.test('topics alter --move: bad values are named; a single broker refuses moves', async (t) => {
    const refused: [string[], string][] = [
      [['--move', '0'], '--move "0" must be PARTITION=BROKER,BROKER,... like 0=2,3,4 (the partition, then the ids of the brokers it moves to)'],
      [['--move', 'x=1'], '--move "x=1": partition "x" must be an integer from 0 to 1023'],
      [['--move', '0='], '--move "0=": name the brokers partition 0 moves to, like 0=2,3,4'],
      [['--move', '0=1,two'], '--move "0=1,two": broker id "two" must be an integer from 0 to 65535'],
      [['--move', '0=1,1'], '--move "0=1,1": broker 1 is named twice'],
      [['--move', '1=1', '--move', '1=2'], '--move "1=2": partition 1 is moved by --move "1=1" already; give each partition once'],
      [['--move=0=1', '--move', '0=2'], '--move "0=2": partition 0 is moved by --move "0=1" already; give each partition once'],
    ]
    for (const [args, message] of refused) {
      const r = await skiff(['topics', 'alter', 'cli-m', ...args], { url })
      t.same(r, { code: 1, out: '', err: `skiff topics alter: ${message}\n` }, args.join(' '))
    }
    const before = await client.admin.describeTopic('cli-m')
    const r = await skiff(['topics', 'alter', 'cli-m', '--move', '0=1', '--move', '1=1'], { url })
    t.match(r, { code: 1, out: '', err: /^skiff topics alter: moving partitions is for a cluster\b.* \[INVALID_REQUEST\]\n$/ }, 'moves are for a cluster: the broker refuses them, and the CLI says so in one line')
    t.same(await client.admin.describeTopic('cli-m'), before, 'nothing changed')
    await t.rejects(client.admin.alterTopic('cli-m', { moves: [{ partition: 0, replicas: [1] }] }), { code: 'INVALID_REQUEST', message: /for a cluster/ }, 'so does the client API')
    const status = await skiff(['cluster', 'status', '--json'], { url })
    t.same(JSON.parse(status.out).moving, [], 'cluster status: no partition moving')
  })

  t.test('sub: unknown topic, --create, and without a group', async (t) => {
    let r = await skiff(['sub', 'cli-typo', '--count', '1'], { url })
    t.same(r, { code: 1, out: '', err: 'skiff sub: topic "cli-typo" does not exist; add --create to create it\n' })
    t.notOk((await client.admin.listTopics()).some((x) => x.topic === 'cli-typo'), 'and it was not created')

    const created = skiff(['sub', 'cli-new', '--create', '--count', '1'], { url })
    await eventually('the topic to exist', async () => (await client.admin.listTopics()).some((x) => x.topic === 'cli-new'))
    await eventually('the ephemeral subscription to be ready', async () => {
      await producer.publish('cli-new', 'hi')
      return true
    })
    r = await created
    t.same(r, { code: 0, err: '', out: 'hi\n' }, '--create subscribes anyway; no --group is an ephemeral subscription')
    t.same(await client.admin.listGroups('cli-new'), [], 'it left no group behind')
    const groupsDir = path.join(tb.dataDir, 'topics', 'cli-new', '0', 'groups')
    t.same(fs.existsSync(groupsDir) ? fs.readdirSync(groupsDir) : [], [], 'nor files')

    // A dead-letter topic whose origin exists may be read before its first dead letter.
    const worker = await client.subscribe('cli-dead', { group: 'g', maxDeliveries: 1 })
    const reading = skiff(['sub', 'cli-dead.dlq', '--from', 'earliest', '--count', '1'], { url })
    await eventually('the dead-letter topic to be made by the subscription', async () => (await client.admin.listTopics()).some((x) => x.topic === 'cli-dead.dlq'))
    await producer.publish('cli-dead', 'poison')
    ;(await worker.next()).value!.term()
    r = await reading
    t.same(r, { code: 0, err: '', out: 'poison\n' })
  })
})

t.test('durations and sizes', async (t) => {
  t.equal(parseDuration('--retention', '7d'), 7 * 86_400_000)
  t.equal(parseDuration('--retention', '90m'), 90 * 60_000)
  t.equal(parseDuration('--retention', '1500'), 1500)
  t.equal(parseDuration('--retention', 'forever'), 0)
  t.equal(parseBytes('--retention-bytes', '1GiB'), 2 ** 30)
  t.equal(parseBytes('--retention-bytes', '500MB'), 500e6)
  t.equal(parseBytes('--retention-bytes', '4096'), 4096)
  t.throws(() => parseBytes('--retention-bytes', '1 parsec'), /--retention-bytes "1 parsec" must be a size/)
  t.throws(() => parseDuration('--retention', '-1d'), /must be a duration/)
})
