/**
 * Runs a real broker (the built `skiff broker`) under strace, so every file
 * operation it makes and every byte it sends its clients is recorded with the
 * data written:
 *
 *   strace -f --seccomp-bpf -yy -s 0 -e trace=<TRACED_CALLS> -e write=all -o FILE node skiff.js broker ...
 *
 * `-f` follows the worker threads and the libuv pool (group-state saves and
 * topic.json writes run there); `-yy` names each descriptor's file or socket;
 * `-e write=all` dumps the bytes of every write, which is what lets a disk
 * state be rebuilt from the trace alone (a group-state file is replaced by a
 * rename on every save, so the final files do not hold what earlier saves
 * wrote). `--seccomp-bpf` stops the broker only at the traced calls.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { spawnBroker, type BrokerProcess } from '../../broker/broker-process.js'
import type { Tree } from './durability-model.js'
import { fsOpsOf, type TracedIo } from './fs-ops.js'
import { repliesOf, type Replies } from './replies.js'
import { readTree } from './replayer.js'
import { parseTrace } from './trace-parser.js'
import { DEFAULT_WORKLOAD, runWorkload, type WorkloadFacts, type WorkloadSpec } from './workload.js'

export const TRACED_CALLS = [
  'open', 'openat', 'write', 'writev', 'pwrite64', 'pwritev', 'pwritev2', 'lseek', 'ftruncate', 'truncate',
  'fsync', 'fdatasync', 'close', 'mkdir', 'mkdirat', 'rename', 'renameat', 'renameat2', 'unlink', 'unlinkat', 'rmdir',
]

const STRACE_OPTIONS = ['-f', '--seccomp-bpf', '-yy', '-s', '0', '-e', `trace=${TRACED_CALLS.join(',')}`, '-e', 'write=all']

function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}`.trim() }))
  })
}

/** Why strace cannot record here (not installed, ptrace refused), or undefined when it can. */
export async function straceProblem(): Promise<string | undefined> {
  const version = await run('strace', ['-V'])
  if (!version.ok) return 'strace is not installed (apt-get install strace; .ci/run installs it)'
  const probe = await run('strace', [...STRACE_OPTIONS, '-o', '/dev/null', 'true'])
  if (!probe.ok) return `strace cannot trace here (ptrace not permitted?): ${probe.out.split('\n')[0]}`
  return undefined
}

export interface TracedBroker {
  port: number
  /** The broker's own pid (strace's child). */
  pid: number
  proc: BrokerProcess
}

export async function startTracedBroker(traceFile: string, args: string[]): Promise<TracedBroker> {
  const prefix = ['strace', ...STRACE_OPTIONS, '-o', traceFile]
  const proc = await spawnBroker(args, 30_000, prefix)
  const pid = brokerPidUnder(proc.child.pid!)
  if (pid === undefined) {
    signal(-proc.child.pid!, 'SIGKILL')
    throw new Error('cannot find the broker process under strace')
  }
  return { port: proc.port, pid, proc }
}

/** SIGTERM the broker (a graceful stop, traced too) and wait for strace to finish its file; SIGKILL after `graceMs`. */
export async function stopTracedBroker(b: TracedBroker, graceMs = 15_000): Promise<void> {
  // strace ignores SIGTERM while its tracee lives: the broker is the one to stop.
  signal(b.pid, 'SIGTERM')
  // strace and the broker share a process group (spawnBroker with a prefix).
  const timer = setTimeout(() => signal(-b.proc.child.pid!, 'SIGKILL'), graceMs)
  await b.proc.exited
  clearTimeout(timer)
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

/** The child of `parent` (strace forks the traced command). */
function brokerPidUnder(parent: number): number | undefined {
  try {
    for (const tid of fs.readdirSync(`/proc/${parent}/task`)) {
      const kids = fs.readFileSync(`/proc/${parent}/task/${tid}/children`, 'utf8').trim()
      if (kids) return Number(kids.split(/\s+/)[0])
    }
  } catch {
    // no /proc children file: fall through
  }
  return undefined
}

export interface Recording {
  /** The data dir the traced broker ran on (its final state). */
  dataDir: string
  /** The data dir before the broker started (rule 1 of the model). */
  initial: Tree
  traceFile: string
  /** Completed calls in the trace. */
  calls: number
  io: TracedIo
  replies: Replies
  facts: WorkloadFacts
  /** Broker flags of the traced run. */
  brokerArgs: string[]
  ms: number
}

/**
 * Run `spec` against a traced broker on a fresh data dir under `workDir`
 * (fsync=always, two workers, group state saved every 50 ms), stop it
 * gracefully, and read the trace.
 */
export async function record(workDir: string, spec: WorkloadSpec = DEFAULT_WORKLOAD): Promise<Recording> {
  const started = performance.now()
  const dataDir = path.join(workDir, 'traced')
  fs.mkdirSync(dataDir, { recursive: true })
  const initial = readTree(dataDir)
  const traceFile = path.join(workDir, 'broker.strace')
  const brokerArgs = ['--fsync', 'always', '--workers', '2', '--group-commit-ms', '50', '--no-udp', '--log-level', 'info']
  const broker = await startTracedBroker(traceFile, ['--data-dir', dataDir, '--http-port', '0', ...brokerArgs])
  let facts: WorkloadFacts
  try {
    facts = await runWorkload(`skiff://127.0.0.1:${broker.port}`, spec)
  } finally {
    await stopTracedBroker(broker)
  }
  const calls = parseTrace(fs.readFileSync(traceFile, 'utf8'))
  const io = fsOpsOf(calls, dataDir)
  return { dataDir, initial, traceFile, calls: calls.length, io, replies: repliesOf(io.sockets), facts, brokerArgs, ms: performance.now() - started }
}
