/**
 * Real etcd members for the cluster tests: 1 or 3 `etcd` processes (Debian's
 * etcd-server, /usr/bin/etcd) on 127.0.0.1 with free ports (never 2379/2380,
 * which an operator's etcd may hold) and data dirs under /dev/shm (or the OS
 * temp dir), plus faults by PID: SIGKILL, SIGSTOP/SIGCONT, restart.
 *
 * Teardown SIGKILLs every member by PID and removes the dirs: SIGTERM on the
 * last member of a cluster can hang while it tries to reach its peers.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { EtcdClient } from '../../broker/cluster/etcd/client.js'
import { atExit } from '../../bench/lib/at-exit.mjs'
import { freePorts, sleep, until } from '../reliability/harness.js'

export const ETCD_BIN = process.env.SKIFF_ETCD_BIN ?? '/usr/bin/etcd'
export const ETCDCTL_BIN = process.env.SKIFF_ETCDCTL_BIN ?? '/usr/bin/etcdctl'

/** For `t.test(name, { skip: etcdMissing() }, ...)`: false, or why the test cannot run. */
export function etcdMissing(): false | string {
  return fs.existsSync(ETCD_BIN) ? false : `${ETCD_BIN} not found: install the Debian package etcd-server (apt-get install etcd-server)`
}

/** Like etcdMissing, for tests that also need etcdctl (Debian's etcd-client). */
export function etcdctlMissing(): false | string {
  return etcdMissing() || (fs.existsSync(ETCDCTL_BIN) ? false : `${ETCDCTL_BIN} not found: install the Debian package etcd-client`)
}

const execFileP = promisify(execFile)

// The waits and the free port of the reliability harness; `timeout` here resolves with undefined, to race a value against.
export { sleep, until } from '../reliability/harness.js'
export const timeout = (ms: number) => new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())

/** A member's process ended while the cluster was starting or restarting it (most often: its port was taken). */
class MemberExited extends Error {}

export interface Member {
  name: string
  clientUrl: string
  peerUrl: string
  dataDir: string
  proc: ChildProcess | undefined
  /** The last lines etcd logged (its log goes to a file in the cluster dir). */
  logFile: string
}

export class EtcdCluster {
  readonly members: Member[] = []
  private readonly clients: EtcdClient[] = []
  /** Takes back the exit-time SIGKILL and removal once stop() has done them. */
  private forgetAtExit = () => {}

  private constructor(readonly dir: string) {}

  /**
   * Starts `size` members and waits until the cluster answers a linearizable
   * read. Their ports are picked free, all different; a member that exits
   * while starting (another process took its port in between) makes the
   * start try again on new ports, at most three times.
   */
  static async start(size: 1 | 3 = 1): Promise<EtcdCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await EtcdCluster.startOnce(size)
      } catch (err) {
        if (attempt >= 3 || !(err instanceof MemberExited)) throw err
      }
    }
  }

  private static async startOnce(size: 1 | 3): Promise<EtcdCluster> {
    const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
    const cluster = new EtcdCluster(fs.mkdtempSync(path.join(base, 'skiff-etcd-')))
    // A test process that exits without its teardown still takes its members and dirs with it.
    cluster.forgetAtExit = atExit(() => {
      cluster.killAllNow()
      fs.rmSync(cluster.dir, { recursive: true, force: true })
    })
    const token = path.basename(cluster.dir)
    const ports = await freePorts(2 * size)
    for (let i = 0; i < size; i++) {
      const name = `m${i}`
      cluster.members.push({
        name,
        clientUrl: `http://127.0.0.1:${ports[2 * i]}`,
        peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
        dataDir: path.join(cluster.dir, name),
        proc: undefined,
        logFile: path.join(cluster.dir, `${name}.log`),
      })
    }
    const initial = cluster.members.map((m) => `${m.name}=${m.peerUrl}`).join(',')
    try {
      for (const m of cluster.members) cluster.spawn(m, initial, token)
      await cluster.waitHealthy(15_000)
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  private initial = ''
  private token = ''

  private spawn(m: Member, initial = this.initial, token = this.token): void {
    this.initial = initial
    this.token = token
    const log = fs.openSync(m.logFile, 'a')
    m.proc = spawn(ETCD_BIN, [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initial,
      '--initial-cluster-token', token,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
    ], { stdio: ['ignore', log, log] })
    fs.closeSync(log)
  }

  /** All members' client URLs, comma-separated, as a broker takes them. */
  get endpoints(): string {
    return this.members.map((m) => m.clientUrl).join(',')
  }

  /** A client closed at stop(). */
  client(endpoints: string | string[] = this.endpoints, opts: { callTimeoutMs?: number } = {}): EtcdClient {
    const c = new EtcdClient({ endpoints, ...opts })
    this.clients.push(c)
    return c
  }

  /** Waits until every running member answers a linearizable read (which needs a leader); fails at once if one of them exits. */
  async waitHealthy(ms: number): Promise<void> {
    const running = this.members.filter((m) => m.proc && m.proc.exitCode === null && m.proc.signalCode === null)
    const probes = running.map((m) => new EtcdClient({ endpoints: m.clientUrl, callTimeoutMs: 500 }))
    try {
      const ok = await until(async () => {
        const gone = running.find((m) => m.proc!.exitCode !== null || m.proc!.signalCode !== null)
        if (gone) throw new MemberExited(`etcd member ${gone.name} exited while starting; logs in ${this.dir}:\n${this.tailLogs()}`)
        const answers = await Promise.all(probes.map((p) => p.get('/health').then(() => true, () => false)))
        return answers.every(Boolean)
      }, ms)
      if (!ok) throw new Error(`etcd not healthy within ${ms} ms; logs in ${this.dir}:\n${this.tailLogs()}`)
    } finally {
      for (const p of probes) p.close()
    }
  }

  tailLogs(): string {
    return this.members.map((m) => {
      const text = fs.existsSync(m.logFile) ? fs.readFileSync(m.logFile, 'utf8') : ''
      return `--- ${m.name}\n${text.split('\n').slice(-10).join('\n')}`
    }).join('\n')
  }

  /**
   * The index of the member that is raft leader now, by `etcdctl endpoint
   * status` (Debian's etcd-client). Ids are read as strings: they are uint64.
   */
  async leaderIndex(): Promise<number> {
    const { stdout } = await execFileP(ETCDCTL_BIN, ['--endpoints', this.endpoints, '--command-timeout', '3s', 'endpoint', 'status', '-w', 'json'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 10_000,
    })
    const entries = [...stdout.matchAll(/"Endpoint":"([^"]+)".*?"member_id":(\d+).*?"leader":(\d+)/g)]
    const leader = entries.find(([, , member, lead]) => member === lead)
    const i = this.members.findIndex((m) => m.clientUrl === leader?.[1])
    if (i < 0) throw new Error(`no leader in etcdctl endpoint status: ${stdout}`)
    return i
  }

  pid(i: number): number {
    const pid = this.members[i]?.proc?.pid
    if (!pid) throw new Error(`etcd member ${i} is not running`)
    return pid
  }

  signal(i: number, sig: NodeJS.Signals): void {
    process.kill(this.pid(i), sig)
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(i: number): Promise<void> {
    const proc = this.members[i]!.proc
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>((r) => proc.once('exit', () => r()))
    process.kill(proc.pid!, 'SIGKILL')
    await exited
  }

  pause(i: number): void {
    this.signal(i, 'SIGSTOP')
  }

  resume(i: number): void {
    this.signal(i, 'SIGCONT')
  }

  /** Resolves once member i's process is stopped (SIGSTOP is delivered, not acted on, by kill()). At most `ms`. */
  async stopped(i: number, ms = 2000): Promise<void> {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      const stat = fs.readFileSync(`/proc/${this.pid(i)}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) return
      await new Promise((r) => setTimeout(r, 5))
    }
  }

  /** Starts a killed member again on its ports and data dir; waits until every running member is healthy. */
  async restart(i: number): Promise<void> {
    await this.kill(i)
    this.spawn(this.members[i]!)
    await this.waitHealthy(15_000)
  }

  private killAllNow(): void {
    for (const m of this.members) {
      if (m.proc?.pid && m.proc.exitCode === null && m.proc.signalCode === null) {
        try {
          process.kill(m.proc.pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    }
  }

  /** SIGKILLs every member by PID (SIGCONT first, so a paused one dies too), closes clients, removes the dirs. */
  async stop(): Promise<void> {
    for (const c of this.clients) c.close()
    for (let i = 0; i < this.members.length; i++) {
      const proc = this.members[i]!.proc
      if (proc?.pid && proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(proc.pid, 'SIGCONT')
        } catch {
          // already gone
        }
      }
      await this.kill(i)
    }
    fs.rmSync(this.dir, { recursive: true, force: true })
    this.forgetAtExit()
  }
}
