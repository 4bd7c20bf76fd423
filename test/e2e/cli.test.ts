/**
 * The client commands of the `skiff` CLI, run in-process (yargs + our
 * commands, with captured stdout/stderr) against a real broker.
 */
import t from 'tap'
import { lines, skiff } from './cli-run.js'
import { WORKER_COUNTS, eventually, startTestBroker } from './helpers.js'

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)
    const url = () => tb.url

    t.test('pub then sub', async (t) => {
      let r = await skiff(['pub', 'cli-orders', 'hello', '--key', 'k1', '--header', 'trace=abc', '--header', 'who=me=you'], { url: url() })
      t.same(r, { code: 0, out: 'published 1 message to cli-orders (partition 0, offset 0)\n', err: '' })
      r = await skiff(['pub', 'cli-orders'], { url: url(), stdin: 'line one\nline two\n\nline three\n' })
      t.equal(r.out, 'published 3 messages (26 bytes) to cli-orders (partition 0 offsets 1-3)\n', 'stdin lines, the blank one skipped')
      r = await skiff(['pub', 'cli-orders', '{"n":1}', '--header', 'content-type=application/json', '--count', '2', '--json'], { url: url() })
      t.same(lines(r.out).map((l) => JSON.parse(l)), [
        { topic: 'cli-orders', partition: 0, offset: 4 },
        { topic: 'cli-orders', partition: 0, offset: 5 },
      ])

      r = await skiff(['sub', 'cli-orders', '--group', 'readers', '--from', 'earliest', '--count', '6', '--json'], { url: url() })
      t.equal(r.code, 0, r.err)
      const msgs = lines(r.out).map((l) => JSON.parse(l))
      t.equal(msgs.length, 6)
      t.match(msgs[0], { topic: 'cli-orders', partition: 0, offset: 0, deliveryCount: 1, key: 'k1', headers: { trace: 'abc', who: 'me=you' }, payload: 'hello' })
      t.ok(!Number.isNaN(Date.parse(msgs[0].timestamp)), 'ISO timestamp')
      t.same(msgs.map((m) => m.payload), ['hello', 'line one', 'line two', 'line three', { n: 1 }, { n: 1 }])

      // sub acked what it printed: the group has nothing left.
      const client = await tb.client()
      await eventually('the acks to land', async () => (await client.admin.describeGroup('cli-orders', 'readers')).partitions[0]!.committed === 6)
      await client.producer().publish('cli-orders', Buffer.from([1, 2, 3]))
      r = await skiff(['sub', 'cli-orders', '-g', 'readers', '--count', '1', '--json'], { url: url() })
      t.match(JSON.parse(r.out), { offset: 6, payloadBase64: 'AQID' }, 'resumes after the acked ones; bytes as base64')
    })

    t.test('sub without --json prints one payload a line', async (t) => {
      const client = await tb.client()
      const producer = client.producer()
      await producer.publish('cli-plain', 'plain text')
      await producer.publish('cli-plain', 'two\nlines')
      await producer.publish('cli-plain', { n: 1, s: 'x' })
      await producer.publish('cli-plain', Buffer.from([1, 2, 3]))
      await producer.publish('cli-plain', '{"a":1}', { headers: { 'content-type': 'application/json' } })
      const r = await skiff(['sub', 'cli-plain', '-g', 'p', '--from', 'earliest', '--count', '5'], { url: url() })
      t.same(r, { code: 0, out: 'plain text\n"two\\nlines"\n{"n":1,"s":"x"}\nAQID\n{"a":1}\n', err: '' })
    })

    t.test('topics and groups, as text and as JSON', async (t) => {
      let r = await skiff(['topics', 'create', 'cli-stock', '--partitions', '3', '--retention-ms', '60000'], { url: url() })
      t.same(r, { code: 0, out: 'created topic cli-stock with 3 partitions\n', err: '' })
      r = await skiff(['topics', 'list'], { url: url() })
      t.match(r.out, /^TOPIC\s+PARTITIONS\n/)
      t.match(r.out, /cli-stock\s+3\n/)
      r = await skiff(['topics', 'list', '--json'], { url: url() })
      t.ok((JSON.parse(r.out) as { topic: string }[]).some((x) => x.topic === 'cli-stock'))
      r = await skiff(['topics', 'describe', 'cli-stock'], { url: url() })
      t.match(r.out, /topic cli-stock\n\s+partitions\s+3\n\s+retention\s+1 min, no byte limit\n\s+segment size\s+\d+(\.\d+)? [KMG]iB\n/)
      t.equal(lines(r.out).filter((l) => /^\d+\s/.test(l)).length, 3, 'a row per partition')
      r = await skiff(['topics', 'describe', 'cli-stock', '--json'], { url: url() })
      t.match(JSON.parse(r.out), { topic: 'cli-stock', partitions: 3, retentionMs: 60000 })

      await skiff(['pub', 'cli-stock', 'x'], { url: url() })
      await skiff(['sub', 'cli-stock', '--group', 'counters', '--from', 'earliest', '--count', '1'], { url: url() })
      r = await skiff(['groups', 'list', '--topic', 'cli-stock'], { url: url() })
      t.match(r.out, /cli-stock\s+counters/)
      r = await skiff(['groups', 'describe', 'cli-stock', 'counters'], { url: url() })
      t.match(r.out, /^group counters on cli-stock: \d+ members?, total lag \d+\n/)
      t.match(r.out, /PARTITION\s+COMMITTED\s+NEXT\s+END\s+LAG\s+IN-FLIGHT/)
      r = await skiff(['groups', 'describe', 'cli-stock', 'counters', '--json'], { url: url() })
      t.match(JSON.parse(r.out), { topic: 'cli-stock', group: 'counters' })

      r = await skiff(['topics', 'delete', 'cli-stock'], { url: url() })
      t.same(r, { code: 0, out: 'deleted topic cli-stock\n', err: '' })
    })

    t.test('failures name the problem and exit non-zero', async (t) => {
      let r = await skiff(['topics', 'delete', 'no-such-topic'], { url: url() })
      t.equal(r.code, 1)
      t.equal(r.out, '')
      t.match(r.err, /^skiff topics delete: .*no-such-topic.*\[UNKNOWN_TOPIC\]\n$/)

      r = await skiff(['topics', 'create', 'bad name'], { url: url() })
      t.match(r, { code: 1, err: /topic name "bad name" must be/ })

      r = await skiff(['pub', 'x', 'y', '--header', 'novalue'], { url: url() })
      t.match(r, { code: 1, err: /--header "novalue" must be name=value/ })

      r = await skiff(['sub', 'x', '--group', 'g', '--from', 'yesterday'], { url: url() })
      t.match(r, { code: 1, err: /--from "yesterday" must be earliest, latest, an offset or an ISO date/ })

      r = await skiff(['sub'], { url: url() })
      t.match(r, { code: 1, out: '', err: /^skiff sub: [^\n]+\(see skiff sub --help\)\n$/ }, 'usage errors are one line, not the help')
      r = await skiff(['topics'], { url: url() })
      t.same(r, { code: 1, out: '', err: 'skiff topics: name a topics command: list, create, describe, delete, purge or alter (see skiff topics --help)\n' })
      r = await skiff(['groups', 'describe', 'only-topic'], { url: url() })
      t.match(r, { code: 1, out: '', err: /^skiff groups describe: [^\n]+\(see skiff groups describe --help\)\n$/ })
      r = await skiff(['pub', 't', 'm', '--no-such-flag'], { url: url() })
      t.same(r, { code: 1, out: '', err: 'skiff pub: unknown option --no-such-flag (see skiff pub --help)\n' }, 'an unknown option is named as typed')

      r = await skiff(['pub', 'x', 'y', '--count', '0'], { url: url() })
      t.match(r, { code: 1, err: /^skiff pub: --count must be a positive integer, got 0\n$/ })
      r = await skiff(['sub', 'x', '-g', 'g', '--count', '-1'], { url: url() })
      t.match(r, { code: 1, err: /--count must be a positive integer/ })
      await skiff(['topics', 'create', 'cli-twice'], { url: url() })
      r = await skiff(['topics', 'create', 'cli-twice'], { url: url() })
      t.match(r, { code: 1, out: '', err: /^skiff topics create: .*\[TOPIC_EXISTS\]\n$/ })
      r = await skiff(['topics', 'describe', 'cli-never'], { url: url() })
      t.match(r, { code: 1, err: /^skiff topics describe: .*\[UNKNOWN_TOPIC\]\n$/ })
      r = await skiff(['groups', 'describe', 'cli-twice', 'nobody'], { url: url() })
      t.match(r, { code: 1, err: /^skiff groups describe: .*\[UNKNOWN_GROUP\]\n$/ })
      r = await skiff(['pub', 'orders.dlq', 'forged'], { url: url() })
      t.match(r, { code: 1, err: /^skiff pub: .*dead-letter topic.*\[INVALID_REQUEST\]\n$/ })

      r = await skiff(['topics', 'list', '--url', 'skiff://127.0.0.1:1', '--timeout', '2000'], { url: url() })
      t.match(r, { code: 1, err: /^skiff topics list: cannot connect to skiff:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/ }, '--url wins over SKIFF_URL')

      r = await skiff(['topics', 'list'], { env: { SKIFF_URL: 'http://nope' } })
      t.match(r, { code: 1, err: /unknown scheme "http"/ }, 'SKIFF_URL is used')
    })
  })
}
