/**
 * The long fault suite's command, `npm run bench:cluster-faults`, runs the
 * fault-suite TypeScript outside tap, through its TypeScript loader, which
 * type-checks what it loads (tap's own runs do not): an import that type-checks
 * only under tap would break the command. Bad options are refused before any
 * etcd or broker starts, after the whole runner has been loaded.
 */
import { execFile } from 'node:child_process'
import path from 'node:path'
import t from 'tap'
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
}
