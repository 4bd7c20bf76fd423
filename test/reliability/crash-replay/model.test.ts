/**
 * The crash replay's pure parts on a hand-written trace: the parser (padded
 * results, calls split by other threads, data dumps, writev's buffers,
 * failed calls) and the durability model's rules, one at a time.
 */
import t from 'tap'
import { DurabilityModel } from './durability-model.js'
import { fsOpsOf } from './fs-ops.js'
import { parseTrace } from './trace-parser.js'

const D = '/data'
const TRACE = `
100  mkdir("${D}/topics", 0777) = 0
100  mkdir("${D}/topics", 0777) = -1 EEXIST (File exists)
100  openat(AT_FDCWD</cwd>, "${D}/topics/a.tmp", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 7<${D}/topics/a.tmp>
101  pwrite64(7<${D}/topics/a.tmp>, ""..., 5, 0 <unfinished ...>
102  write(9<TCP:[127.0.0.1:7600->127.0.0.1:5000]>, ""..., 2) = 2
 | 00000  68 69                                             hi               |
101  <... pwrite64 resumed>)            = 5
 | 00000  68 65 6c 6c 6f                                    hello            |
100  fdatasync(7<${D}/topics/a.tmp>)    = 0
100  writev(7<${D}/topics/a.tmp>, [...], 2) = 3
 * 1 bytes in buffer 0
 | 00000  21                                                !                |
 * 2 bytes in buffer 1
 | 00000  3f 3f                                             ??               |
100  close(7<${D}/topics/a.tmp>)        = 0
100  rename("${D}/topics/a.tmp", "${D}/topics/topic.json") = 0
100  openat(AT_FDCWD</cwd>, "${D}/topics", O_RDONLY|O_CLOEXEC) = 8<${D}/topics>
100  fsync(8<${D}/topics>)              = 0
100  close(8<${D}/topics>)              = 0
100  openat(AT_FDCWD</cwd>, "${D}", O_RDONLY|O_CLOEXEC) = 8<${D}>
100  fsync(8<${D}>)                     = 0
101  +++ exited with 0 +++
`

t.test('the parser puts interrupted calls together and keeps the bytes written', async (t) => {
  const calls = parseTrace(TRACE)
  t.same(calls.map((c) => c.name), ['mkdir', 'mkdir', 'openat', 'write', 'pwrite64', 'fdatasync', 'writev', 'close', 'rename', 'openat', 'fsync', 'close', 'openat', 'fsync'])
  const pwrite = calls.find((c) => c.name === 'pwrite64')!
  t.equal(pwrite.data?.toString(), 'hello', 'the dump after the resumed line belongs to the resumed call')
  t.equal(pwrite.args[3], '0')
  t.equal(calls.find((c) => c.name === 'writev')!.data?.toString(), '!??', "writev's buffers in order")
  t.equal(calls[1]!.errno, 'EEXIST')
  t.equal(calls[2]!.resultAnnotation, `${D}/topics/a.tmp`)
  t.throws(() => parseTrace('100  pwrite64(7</x>, ""..., 5, 0) = 5\n | 00000  68 65                   he |\n'), /dump holds 2 bytes/)
})

t.test('the model keeps what a sync covered and nothing else', async (t) => {
  const { ops, sockets } = fsOpsOf(parseTrace(TRACE), D)
  t.same(sockets.map((s) => s.data.toString()), ['hi'], 'socket writes are kept apart')
  t.notOk(ops.some((op) => op.text.includes('EEXIST')), 'failed calls change nothing')
  const model = new DurabilityModel()
  const at = new Map<string, [string, string]>()
  for (const op of ops) {
    model.apply(op)
    const show = (view: 'durable' | 'written') => {
      const tree = model.tree(view)
      return [...tree.dirs.filter((d) => d), ...[...tree.files].map(([p, b]) => `${p}=${b.toString()}`)].join(' ')
    }
    at.set(op.text, [show('durable'), show('written')])
  }
  t.same(at.get('fdatasync(topics/a.tmp)'), ['', 'topics topics/a.tmp=hello'], 'synced data under a name that is not durable is not reachable')
  // The writev went to the file position, 0: a pwrite64 does not move it.
  t.same(at.get('rename(topics/a.tmp, topics/topic.json)'), ['', 'topics topics/topic.json=!??lo'], 'a rename is not durable before its directory is synced; written has it with the unsynced bytes')
  t.same(at.get('fsync(topics)')![0], '', 'an fsync of topics/ does not make topics/ itself durable')
  t.same(at.get('fsync(.)')![0], 'topics topics/topic.json=hello', 'the data dir fsync makes topics/ durable; the unsynced writev is not')
  t.same(model.pending(), [], 'nothing pending at the end')
})
