/**
 * The client commands of the `skiff` CLI, run in-process (yargs + our
 * commands, with captured stdout/stderr) against a real broker.
 */
import t from 'tap'
import yargs from 'yargs'
import { Readable, Writable } from 'node:stream'
import { registerClientCommands, type CliIO } from '../../broker/cli/client-commands.js'
import { WORKER_COUNTS, eventually, startTestBroker } from './helpers.js'

interface Run {
  code: number
  out: string
  err: string
}

function sink(onChunk: (s: string) => void): Writable {
  return new Writable({
    write(chunk, _enc, cb) {
      onChunk(String(chunk))
      cb()
    },
  })
}

async function skiff(args: string[], opts: { url?: string; stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const run: Run = { code: 0, out: '', err: '' }
  const io: CliIO = {
    stdout: sink((s) => (run.out += s)),
    stderr: sink((s) => (run.err += s)),
    stdin: Readable.from([opts.stdin ?? '']),
    env: { ...(opts.url ? { SKIFF_URL: opts.url } : {}), ...opts.env },
    setExitCode: (c) => (run.code = c),
    onInterrupt: () => () => {},
  }
  const cli = registerClientCommands(yargs().scriptName('skiff'), io)
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      run.err += `${msg ?? err?.message}\n`
      run.code = 1
    })
  await cli.parseAsync(args)
  return run
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '')

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)
    const url = () => tb.url

    t.test('pub then sub', async (t) => {
      let r = await skiff(['pub', 'cli-orders', 'hello', '--key', 'k1', '--header', 'trace=abc', '--header', 'who=me=you'], { url: url() })
      t.same(r, { code: 0, out: 'published 1 message to cli-orders (partition 0, offset 0)\n', err: '' })
      r = await skiff(['pub', 'cli-orders'], { url: url(), stdin: 'line one\nline two\n\nline three\n' })
      t.equal(r.out, 'published 3 messages to cli-orders (partition 0 offsets 1-3)\n', 'stdin lines, the blank one skipped')
      r = await skiff(['pub', 'cli-orders', '{"n":1}', '--header', 'content-type=application/json', '--count', '2', '--json'], { url: url() })
      t.same(lines(r.out).map((l) => JSON.parse(l)), [
        { topic: 'cli-orders', partition: 0, offset: 4 },
        { topic: 'cli-orders', partition: 0, offset: 5 },
      ])

      r = await skiff(['sub', 'cli-orders', '--group', 'readers', '--from', 'earliest', '--count', '6'], { url: url() })
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
      r = await skiff(['sub', 'cli-orders', '-g', 'readers', '--count', '1'], { url: url() })
      t.match(JSON.parse(r.out), { offset: 6, payloadBase64: 'AQID' }, 'resumes after the acked ones; bytes as base64')
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
      t.match(r.out, /topic cli-stock\n\s+partitions\s+3\n\s+retention\s+60000 ms/)
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

      r = await skiff(['sub', 'x'], { url: url() })
      t.match(r, { code: 1, err: /Missing required argument: group/ })

      r = await skiff(['topics', 'list', '--url', 'skiff://127.0.0.1:1', '--timeout', '2000'], { url: url() })
      t.match(r, { code: 1, err: /^skiff topics list: cannot connect to skiff:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/ }, '--url wins over SKIFF_URL')

      r = await skiff(['topics', 'list'], { env: { SKIFF_URL: 'http://nope' } })
      t.match(r, { code: 1, err: /unknown scheme "http"/ }, 'SKIFF_URL is used')
    })
  })
}
