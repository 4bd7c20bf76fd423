/**
 * The long fault suite's command, `npm run bench:cluster-faults`, runs the
 * fault-suite TypeScript outside tap, through its TypeScript loader, which
 * type-checks what it loads (tap's own runs do not): an import that type-checks
 * only under tap would break the command. Bad options are refused before any
 * etcd or broker starts, after the whole runner has been loaded. Interrupted
 * in the middle of a fault, it leaves nothing behind: no process (a paused
 * broker would otherwise stay stopped for ever) and no data directory.
 */
import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import t from 'tap'
import { until } from '../reliability/harness.js'
import { repoRoot } from '../deploy/dockerfile.js'
import { etcdctlMissing } from './etcd-harness.js'

const script = path.join(repoRoot, 'bench/cluster-faults/run.mjs')
// A user's shell, not tap's: tap tells its TypeScript loader not to type-check (TS_NODE_TRANSPILE_ONLY).
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TS_NODE_|TAP_|_TAPJS_)/.test(k)))

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [script, ...args], { cwd: repoRoot, env: userEnv, timeout: 120_000 }, (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }))
  })
}

const missing = etcdctlMissing()
if (missing) t.skip(missing)
else {
  t.test('the runner loads, type-checked, and names an unknown fault', async (t) => {
    const r = await run(['--faults', 'kill-leader,melt-disk'])
    t.equal(r.code, 2, r.stderr)
    t.match(r.stderr, /unknown fault\(s\): melt-disk; known: kill-leader, /)
    t.notMatch(r.stderr, /Unable to compile TypeScript/)
  })

  t.test('a bad number is refused with the option it belongs to', async (t) => {
    const r = await run(['--minutes', 'soon'])
    t.equal(r.code, 2)
    t.match(r.stderr, '--minutes must be a positive number, not "soon"')
  })

  t.test('SIGTERM in the middle of a pause stops every process it started and removes their data', async (t) => {
    const child = spawn(process.execPath, [script, '--minutes', '2', '--interval', '1000', '--faults', 'pause-leader', '--seed', '7', '--results', '/dev/null'], { cwd: repoRoot, env: userEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    t.teardown(() => child.kill('SIGKILL'))
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    const pausing = new Promise<boolean>((resolve) => {
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        if (/pause-leader \.\.\./.test(line)) resolve(true)
      })
      void exited.then(() => resolve(false))
    })
    t.ok(await Promise.race([pausing, new Promise<boolean>((r) => setTimeout(() => r(false), 90_000).unref())]), `a pause began: ${stderr}`)
    // Its processes (the runner under the loader, etcd members, brokers), once one of them is stopped.
    const stopped = await until(() => {
      const tree = descendants(child.pid!)
      return tree.some((p) => p.state === 'T') && tree
    }, 10_000)
    t.ok(stopped, 'a broker is paused (SIGSTOP) when the signal comes')
    const tree = stopped || []
    const dataDirs = tree.flatMap((p) => argAfter(p.args, '--data-dir'))
    t.ok(tree.some((p) => p.args.some((a) => a.endsWith('/etcd'))) && dataDirs.length >= 6, `etcd members and brokers, each with a data dir: ${dataDirs.join(' ')}`)

    child.kill('SIGTERM')
    t.equal(await exited, 143, 'the command exits as a process ended by SIGTERM')
    t.match(stderr, 'SIGTERM: stopping the cluster and removing its data')
    const gone = await until(() => tree.every((p) => !alive(p.pid)), 5000)
    t.ok(gone, `no process left: ${tree.filter((p) => alive(p.pid)).map((p) => `${p.pid} ${p.args.slice(0, 2).join(' ')}`).join(', ')}`)
    t.same(dataDirs.filter((d) => fs.existsSync(d)), [], 'every data directory removed')
  })
}

interface Proc {
  pid: number
  state: string
  args: string[]
}

/** Every process below `root`, through /proc's children lists; one that exits meanwhile is left out. */
function descendants(root: number): Proc[] {
  const found: Proc[] = []
  for (const pid of childrenOf(root)) {
    const state = stateOf(pid)
    if (state === undefined) continue
    found.push({ pid, state, args: readOr(`/proc/${pid}/cmdline`, '').split('\0').filter(Boolean) }, ...descendants(pid))
  }
  return found
}

function childrenOf(pid: number): number[] {
  let tids: string[] = []
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`)
  } catch {
    return [] // exited
  }
  return tids.flatMap((tid) => readOr(`/proc/${pid}/task/${tid}/children`, '').split(' ').filter(Boolean).map(Number))
}

/** The one-letter state of /proc/<pid>/stat, undefined once the process is gone. */
function stateOf(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`, '')
  return stat ? stat[stat.lastIndexOf(')') + 2] : undefined
}

/** Running or stopped: a zombie (exited, not yet reaped by whoever adopted it) is gone. */
function alive(pid: number): boolean {
  const state = stateOf(pid)
  return state !== undefined && state !== 'Z'
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return fallback
  }
}

function argAfter(args: string[], flag: string): string[] {
  const i = args.indexOf(flag)
  return i >= 0 && i + 1 < args.length ? [args[i + 1]!] : []
}
