/**
 * Reads the output of
 *
 *   strace -f -yy -s 0 -e trace=<file and directory calls> -e write=all -o FILE
 *
 * into one record per completed system call, in the order strace reported
 * their completion. The lines it understands:
 *
 *   4166  pwrite64(29</d/topics/a/0/00000000000000000000.log>, ""..., 97, 0) = 97
 *    | 00000  00 00 00 00 00 00 00 00  00 00 00 55 ...  ...........U |
 *   4155  write(28<TCP:[127.0.0.1:38895->127.0.0.1:58334]>, ""..., 31 <unfinished ...>
 *   4155  <... write resumed>) = 31
 *    * 2 bytes in buffer 0                       (writev: one dump per iovec)
 *   4166  openat(AT_FDCWD</cwd>, "/d/topics", O_RDONLY|O_CLOEXEC) = 29</d/topics>
 *   4166  mkdir("/d/topics", 0777) = -1 EEXIST (File exists)
 *   4178  +++ exited with 0 +++                  (ignored, as are --- signal --- lines)
 *
 * A call that another thread interrupted ("<unfinished ...>") is put together
 * again from its "resumed" line and counts at its completion: that is when
 * its effect is certain, and the only order in which strace can print it.
 * The `-e write=all` dumps follow the completed call they belong to and hold
 * exactly the bytes the call wrote (its return value), so a file's content
 * can be rebuilt from the trace alone.
 *
 * Decision: the parser knows nothing of files or durability; it refuses (throws)
 * lines it cannot read rather than guessing, since a silently dropped write
 * would make every later disk state wrong.
 */

export interface Syscall {
  /** Index in the list of completed calls. */
  seq: number
  /** 1-based line of the trace file where the call completed. */
  line: number
  tid: number
  name: string
  /** Argument texts, split at top-level commas (paths keep their quotes, fds their <annotation>). */
  args: string[]
  /** Return value; -1 for a failed call. */
  result: number
  /** The annotation of a returned fd (`-yy`), e.g. the opened path. */
  resultAnnotation?: string
  /** Errno name of a failed call. */
  errno?: string
  /** Bytes written, from the `-e write=` dumps (write, pwrite64, writev, pwritev). */
  data?: Buffer
}

const CALL = /^(\d+) +(.*)$/
const RESUMED = /^<\.\.\. (\w+) resumed>(.*)$/
const UNFINISHED = ' <unfinished ...>'
const DUMP_LINE = /^ \| ([0-9a-f]+) {2}/
const IOV_HEADER = /^ \* \d+ bytes in buffer \d+$/
/** Hex area of a dump line: 16 bytes as "xx " with one more space after the eighth. */
const DUMP_HEX_WIDTH = 16 * 3 + 1

export function parseTrace(text: string): Syscall[] {
  const calls: Syscall[] = []
  const pending = new Map<number, { name: string; head: string }>()
  let dumpTarget: Syscall | undefined
  let dumpChunks: Buffer[] = []
  const finishDump = () => {
    if (dumpTarget && dumpChunks.length > 0) dumpTarget.data = Buffer.concat(dumpChunks)
    dumpTarget = undefined
    dumpChunks = []
  }
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!
    if (raw === '') continue
    const dump = DUMP_LINE.exec(raw)
    if (dump) {
      if (!dumpTarget) throw new Error(`trace line ${i + 1}: a data dump with no call before it`)
      const hex = raw.slice(dump[0].length, dump[0].length + DUMP_HEX_WIDTH).match(/[0-9a-f]{2}/g) ?? []
      dumpChunks.push(Buffer.from(hex.join(''), 'hex'))
      continue
    }
    if (IOV_HEADER.test(raw)) continue
    finishDump()
    const m = CALL.exec(raw)
    if (!m) throw new Error(`trace line ${i + 1} is not a call: ${raw.slice(0, 120)}`)
    const tid = Number(m[1])
    let body = m[2]!
    if (body.startsWith('+++ ') || body.startsWith('--- ')) continue
    const resumed = RESUMED.exec(body)
    if (resumed) {
      const head = pending.get(tid)
      if (!head || head.name !== resumed[1]) throw new Error(`trace line ${i + 1}: ${resumed[1]} resumed without its start`)
      pending.delete(tid)
      body = head.head + resumed[2]!
    } else if (body.endsWith(UNFINISHED)) {
      const open = body.indexOf('(')
      pending.set(tid, { name: body.slice(0, open), head: body.slice(0, -UNFINISHED.length) })
      continue
    }
    const call = parseCall(body, i + 1, tid, calls.length)
    if (!call) continue // a call that never returned (the process exited inside it)
    calls.push(call)
    dumpTarget = call
  }
  finishDump()
  for (const c of calls) {
    if (c.data && c.result >= 0 && c.data.length !== c.result) {
      throw new Error(`trace line ${c.line}: ${c.name} returned ${c.result} but its dump holds ${c.data.length} bytes`)
    }
  }
  return calls
}

/** `name(args) = result[<annotation>| ERRNO (text)]`; undefined for `= ?` (no return). */
function parseCall(body: string, line: number, tid: number, seq: number): Syscall | undefined {
  const open = body.indexOf('(')
  // strace pads the result to a column: `close(3</x>)        = 0`.
  let end: RegExpExecArray | undefined
  for (const m of body.matchAll(/\) *= /g)) end = m as RegExpExecArray
  if (open <= 0 || !end || end.index < open) throw new Error(`trace line ${line}: cannot read call ${body.slice(0, 120)}`)
  const close = end.index
  const name = body.slice(0, open)
  const tail = body.slice(close + end[0].length)
  if (tail.startsWith('?')) return undefined
  const r = /^(-?\d+|0x[0-9a-f]+)(?:<(.*)>)?(?: ([A-Z][A-Z0-9_]*) \(.*\))?/.exec(tail)
  if (!r) throw new Error(`trace line ${line}: cannot read the result of ${name}: ${tail.slice(0, 80)}`)
  const call: Syscall = { seq, line, tid, name, args: splitArgs(body.slice(open + 1, close)), result: Number(r[1]) }
  if (r[2] !== undefined) call.resultAnnotation = r[2]
  if (r[3] !== undefined) call.errno = r[3]
  return call
}

const CLOSER: Record<string, string> = { '(': ')', '[': ']', '{': '}', '<': '>' }

/** Split at commas outside quotes and brackets; `<...>` annotations may hold `->` inside `[...]`. */
export function splitArgs(text: string): string[] {
  const out: string[] = []
  const stack: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (quoted) {
      if (ch === '\\') i++
      else if (ch === '"') quoted = false
      continue
    }
    if (ch === '"') quoted = true
    else if (ch in CLOSER) stack.push(CLOSER[ch]!)
    else if (stack.length > 0 && ch === stack[stack.length - 1]) stack.pop()
    else if (ch === ',' && stack.length === 0) {
      out.push(text.slice(start, i).trim())
      start = i + 1
    }
  }
  const last = text.slice(start).trim()
  if (last !== '' || out.length > 0) out.push(last)
  return out
}

/** `29</d/x>` -> { fd: 29, annotation: '/d/x' }; `AT_FDCWD</cwd>` -> { fd: -100, ... }. */
export function fdArg(arg: string): { fd: number; annotation: string | undefined } {
  const m = /^(-?\d+|AT_FDCWD)(?:<(.*)>)?$/s.exec(arg)
  if (!m) throw new Error(`not an fd argument: ${arg}`)
  return { fd: m[1] === 'AT_FDCWD' ? -100 : Number(m[1]), annotation: m[2] }
}

/** A quoted path argument, unescaped (strace escapes ", \ and non-printing bytes). */
export function pathArg(arg: string): string {
  if (!arg.startsWith('"') || !arg.endsWith('"')) throw new Error(`not a path argument: ${arg}`)
  return arg.slice(1, -1).replace(/\\(x[0-9a-f]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16))
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8))
    return ({ n: '\n', t: '\t', r: '\r', v: '\v', f: '\f' } as Record<string, string>)[e] ?? e
  })
}
