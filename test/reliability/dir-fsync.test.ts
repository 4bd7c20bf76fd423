/**
 * Issue 14, item 3: directory fsyncs, proven on a real broker process traced
 * by strace (no fs shim): every directory the broker makes (topics/, a
 * topic's, a partition's, groups/) is followed by an fsync of its parent, a
 * new topic.json (a rename) and a new segment (a create) by an fsync of the
 * directory holding them, and each of those finishes before the answer that
 * depends on it reaches the client: the topic's creation (TOPIC_CREATE or a
 * PUBLISH that creates it) and the first confirm of a partition.
 *
 * Before: 0 of 3 new directories and 0 of 2 topic.json renames were followed
 * by a directory fsync, so a power loss soon after could drop a topic with
 * its confirmed messages.
 *
 * Times: strace -ttt -T gives each call's start and duration (CLOCK_REALTIME);
 * the client stamps each answer with Date.now(), the same clock, read when the
 * answer is seen. Not performance.timeOrigin + now(), a monotonic clock
 * offset once to real time: in a loaded test run every directory fsync
 * appeared to end 2-10 ms after its answer by that clock, while the fsync
 * completes before the broker writes the answer. Date.now() rounds down to
 * the millisecond, so an answer counts from the end of its millisecond.
 */
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { connect } from '../../clients/index.js'
import { freePort, sleep, tempDir, timeout, until } from './harness.js'

const cli = fileURLToPath(new URL('../../dist/cli/skiff.js', import.meta.url))

function straceProblem(): string | undefined {
  try {
    execFileSync('strace', ['-f', '-o', '/dev/null', 'true'], { stdio: 'pipe' })
    return undefined
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'strace is not installed' : `strace cannot trace here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`
  }
}

interface Call {
  name: string
  args: string
  ok: boolean
  /** Start and end, seconds since the epoch. */
  start: number
  end: number
}

/** The calls of an `strace -f -y -ttt -T` file, joining `<unfinished ...>` with their `<... resumed>`. */
function parseTrace(text: string): Call[] {
  const open = new Map<string, { start: number; head: string }>()
  const calls: Call[] = []
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(\d+\.\d+) (.*)$/.exec(line)
    if (!m) continue
    const [, pid, time, rest] = m as unknown as [string, string, string, string]
    let start = Number(time)
    let body = rest
    if (rest.endsWith('<unfinished ...>')) {
      open.set(pid, { start, head: rest.slice(0, -'<unfinished ...>'.length) })
      continue
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(rest)
    if (resumed) {
      const o = open.get(pid)
      if (!o) continue
      open.delete(pid)
      start = o.start
      body = o.head + resumed[1]
    }
    const call = /^(\w+)\((.*)\) = (-?\d+)(?:<[^>]*>)?[^<]*(?:<(\d+\.\d+)>)?$/.exec(body)
    if (!call) continue
    calls.push({ name: call[1]!, args: call[2]!, ok: Number(call[3]) >= 0, start, end: start + Number(call[4] ?? 0) })
  }
  return calls
}

const now = () => (Date.now() + 1) / 1000
const skip = straceProblem()

t.test('every new directory, topic.json and segment is made durable before the answer that depends on it', { skip: skip ?? false, timeout: 180_000 }, async (t) => {
  const dataDir = path.join(tempDir(t, 'dir-fsync'), 'data')
  const traceFile = path.join(path.dirname(dataDir), 'trace.txt')
  const port = await freePort()
  const child = spawn('strace', ['-f', '-y', '-ttt', '-T', '-e', 'trace=mkdir,mkdirat,rename,renameat,renameat2,openat,fsync,fdatasync', '-o', traceFile,
    process.execPath, cli, 'broker', '--port', String(port), '--http-port', '0', '--data-dir', dataDir, '--workers', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  // The broker is strace's child: signals go to it, not to strace (which would detach and leave it running).
  let brokerPid: number | undefined
  const signalBroker = (sig: NodeJS.Signals) => {
    try {
      if (brokerPid !== undefined) process.kill(brokerPid, sig)
    } catch {
      // already gone
    }
  }
  t.teardown(async () => {
    signalBroker('SIGKILL')
    child.kill('SIGKILL')
    await exited
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the traced broker did not start within 60 s')), 60_000)
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"listening"')) {
        clearTimeout(timer)
        brokerPid = Number(fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0])
        resolve()
      }
    })
  })

  const client = await connect(`skiff://127.0.0.1:${port}`, { reconnect: false, requestTimeoutMs: 30_000 })
  await client.admin.createTopic('made', { partitions: 1 })
  const created = now()
  const producer = client.producer()
  await producer.publish('made', 'first')
  const firstConfirm = now()
  await producer.publish('auto', 'created by a publish')
  const autoConfirm = now()
  const consumer = await client.subscribe('made', { group: 'g', from: 'earliest' })
  const msg = await Promise.race([consumer.next(), timeout(10_000).then(() => undefined)])
  msg?.value?.ack()
  // Group positions are saved every 200 ms: wait for the groups directory.
  const groups = path.join(dataDir, 'topics', 'made', '0', 'groups')
  t.ok(await until(() => fs.existsSync(groups) && fs.readdirSync(groups).some((f) => f.endsWith('.state')), 10_000), 'the group state was saved')
  await sleep(500)
  await consumer.close()
  await client.close()
  signalBroker('SIGTERM')
  await Promise.race([exited, timeout(30_000)])

  const calls = parseTrace(fs.readFileSync(traceFile, 'utf8'))
  if (process.env.KEEP_TRACE) fs.copyFileSync(traceFile, process.env.KEEP_TRACE)
  const fsyncOf = (dir: string, after: number) => calls.find((c) => (c.name === 'fsync' || c.name === 'fdatasync') && c.ok && c.args.startsWith(`${/^\d+/.exec(c.args)?.[0]}<${dir}>`) && c.start >= after)
  const made = (dir: string) => calls.find((c) => (c.name === 'mkdir' || c.name === 'mkdirat') && c.ok && c.args.includes(`"${dir}"`))
  const renamedTo = (file: string) => calls.find((c) => c.name.startsWith('rename') && c.ok && c.args.includes(`"${file}"`))
  const createdFile = (file: string) => calls.find((c) => c.name === 'openat' && c.ok && c.args.includes(`"${file}"`) && c.args.includes('O_CREAT'))

  /** `op` happened, then an fsync of `dir` that ended before `by` (an answer's time; Infinity: before the end). */
  const durable = (what: string, op: Call | undefined, dir: string, by: number) => {
    const sync = op && fsyncOf(dir, op.end)
    const late = sync && sync.end > by ? ` (ended ${((sync.end - by) * 1000).toFixed(2)} ms after the answer)` : ''
    t.ok(op && sync && sync.end <= by, `${what}: ${op ? (sync ? `fsync of ${path.relative(dataDir, dir) || 'the data dir'}` : 'no fsync of its directory') : 'not seen in the trace'}${late}`)
  }
  const topics = path.join(dataDir, 'topics')
  const topicMade = path.join(topics, 'made')
  const topicAuto = path.join(topics, 'auto')
  durable('mkdir topics/', made(topics), dataDir, created)
  durable('mkdir topics/made', made(topicMade), topics, created)
  durable('rename to topics/made/topic.json', renamedTo(path.join(topicMade, 'topic.json')), topicMade, created)
  durable('mkdir topics/made/0', made(path.join(topicMade, '0')), topicMade, firstConfirm)
  durable('create topics/made/0/00000000000000000000.log', createdFile(path.join(topicMade, '0', '00000000000000000000.log')), path.join(topicMade, '0'), firstConfirm)
  durable('mkdir topics/auto (created by a publish)', made(topicAuto), topics, autoConfirm)
  durable('rename to topics/auto/topic.json', renamedTo(path.join(topicAuto, 'topic.json')), topicAuto, autoConfirm)
  durable('mkdir topics/auto/0', made(path.join(topicAuto, '0')), topicAuto, autoConfirm)
  durable('mkdir topics/made/0/groups', made(groups), path.join(topicMade, '0'), Infinity)
})
