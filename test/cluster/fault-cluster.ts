/**
 * A cluster whose every link can be cut: three etcd members and N brokers
 * on loopback, where each broker reaches each etcd member through a
 * FaultProxy of its own and advertises the address of another FaultProxy in
 * front of its port. Cutting a broker's etcd proxies cuts it from etcd
 * alone; cutting its advertised proxy cuts it from the other brokers (they
 * replicate from the advertised address) and from every client routed to it
 * by METADATA, which is what a broker behind a failed switch port looks like.
 * Its own direct port (BrokerRunner.url) stays reachable for the test.
 *
 * Not bound to tap: the bench runner uses it too. close() stops everything
 * and removes the data directories.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Client, ClusterMetadata } from '../../clients/index.js'
import { atExit } from '../../bench/lib/at-exit.mjs'
import { BrokerRunner, freePort, sleep, until } from '../reliability/harness.js'
import { connectDirect } from './broker-cluster.js'
import { EtcdCluster } from './etcd-harness.js'
import { FaultProxy } from './fault-proxy.js'

export interface FaultClusterOptions {
  /** Default 3. */
  brokers?: number
  /** More `skiff broker` flags for every broker. */
  args?: string[]
}

export interface ClusterBroker {
  id: number
  runner: BrokerRunner
  dataDir: string
  /** The address this broker advertises: peers and routed clients come through it. */
  advertised: FaultProxy
  /** One proxy per etcd member, in member order: its only way to etcd. */
  etcdLinks: FaultProxy[]
}

export interface Placement {
  leader: number
  leaderEpoch: number
  replicas: number[]
  isr: number[]
}

export class FaultCluster {
  readonly brokers: ClusterBroker[] = []
  private admin: { client: Client; id: number } | undefined
  private readonly proxies: FaultProxy[] = []
  /** Takes back the removal of `dir` at exit (registered before the brokers, so run after their SIGKILLs). */
  private forgetDir = () => {}

  private constructor(readonly etcd: EtcdCluster, readonly dir: string) {}

  static async start(opts: FaultClusterOptions = {}): Promise<FaultCluster> {
    const etcd = await EtcdCluster.start(3)
    const cluster = new FaultCluster(etcd, fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-faults-')))
    cluster.forgetDir = atExit(() => fs.rmSync(cluster.dir, { recursive: true, force: true }))
    try {
      const n = opts.brokers ?? 3
      // Every proxy first, each on a port of its own (port 0); the brokers' ports are picked
      // after, so no proxy can take one of them between its pick and the broker's start.
      const links = await Promise.all(Array.from({ length: n }, () => Promise.all(etcd.members.map((m) => FaultProxy.start({ target: { port: Number(new URL(m.clientUrl).port) } })))))
      const targets = Array.from({ length: n }, () => ({ port: 0 }))
      const fronts = await Promise.all(targets.map((target) => FaultProxy.start({ target })))
      cluster.proxies.push(...links.flat(), ...fronts)
      for (let i = 0; i < n; i++) {
        const id = i + 1
        const dataDir = path.join(cluster.dir, `b${id}`)
        const etcdLinks = links[i]!
        const advertised = fronts[i]!
        const endpoints = etcdLinks.map((p) => `127.0.0.1:${p.listenPort}`).join(',')
        const args = ['--data-dir', dataDir, '--cluster', `etcd://${endpoints}`, '--broker-id', String(id), '--cluster-name', 'faults', '--advertise', `127.0.0.1:${advertised.listenPort}`, '--workers', '1', ...(opts.args ?? [])]
        const runner = await startOnFreePort(dataDir, args, targets[i]!)
        cluster.brokers.push({ id, runner, dataDir, advertised, etcdLinks })
      }
      if (!(await cluster.waitAllRegistered(15_000))) throw new Error('the brokers did not all register within 15 s')
    } catch (err) {
      await cluster.close()
      throw err
    }
    return cluster
  }

  broker(id: number): ClusterBroker {
    const b = this.brokers.find((x) => x.id === id)
    if (!b) throw new Error(`no broker ${id}`)
    return b
  }

  /** Seeds for clients: the advertised (proxied) addresses, as a real client would be given. */
  get seeds(): string[] {
    return this.brokers.map((b) => `skiff://127.0.0.1:${b.advertised.listenPort}`)
  }

  /**
   * METADATA from the first running broker that answers within 2 s, through
   * its direct port (so a cut advertised link does not hide the answer).
   * Undefined when none answers.
   */
  async metadata(topics?: string[], except: number[] = []): Promise<ClusterMetadata | undefined> {
    for (const b of this.brokers) {
      if (!b.runner.running || except.includes(b.id)) continue
      try {
        if (this.admin?.id !== b.id) {
          await this.dropAdmin()
          const client = await connectDirect(b.runner.url, { name: 'fault-admin', requestTimeoutMs: 2000, connectTimeoutMs: 2000, reconnect: false })
          client.on('error', () => {})
          this.admin = { client, id: b.id }
        }
        return await this.admin.client.admin.metadata(topics)
      } catch {
        await this.dropAdmin()
      }
    }
    return undefined
  }

  private async dropAdmin(): Promise<void> {
    const a = this.admin
    this.admin = undefined
    await a?.client.close().catch(() => {})
  }

  /** Ask a running broker to move `partition` of `topic` to `replicas` (TOPIC_ALTER moves); resolves once the move is under way. */
  async movePartition(topic: string, partition: number, replicas: number[]): Promise<void> {
    const b = this.brokers.find((x) => x.runner.running)
    if (!b) throw new Error('no broker is running to ask for a move')
    const client = await connectDirect(b.runner.url, { name: 'fault-move', requestTimeoutMs: 15_000, reconnect: false })
    client.on('error', () => {})
    try {
      await client.admin.alterTopic(topic, { moves: [{ partition, replicas }] })
    } finally {
      await client.close().catch(() => {})
    }
  }

  /** partition -> leader id, as some broker other than `except` sees it now. */
  async leaders(topic: string, except: number[] = []): Promise<Map<number, number>> {
    const md = await this.metadata([topic], except)
    return new Map((md?.topics.find((x) => x.topic === topic)?.partitions ?? []).map((p) => [p.partition, p.leader]))
  }

  /** partition -> its leader, epoch, replicas and in-sync set, as some broker other than `except` sees it now. */
  async placement(topic: string, except: number[] = []): Promise<Map<number, Placement>> {
    const md = await this.metadata([topic], except)
    return new Map((md?.topics.find((x) => x.topic === topic)?.partitions ?? []).map((p) => [p.partition, { leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: p.replicas, isr: p.isr }]))
  }

  /** Wait until some broker's METADATA lists every broker (all registered, seen by the watch). */
  async waitAllRegistered(ms: number, except: number[] = []): Promise<boolean> {
    const want = this.brokers.map((b) => b.id).filter((id) => !except.includes(id))
    return (await until(async () => {
      const md = await this.metadata()
      return md !== undefined && want.every((id) => md.brokers.some((b) => b.id === id))
    }, ms)) === true
  }

  /** Wait until the brokers that are up no longer list broker `id` (its lease is gone). */
  async waitGone(id: number, ms: number): Promise<boolean> {
    return (await until(async () => {
      const md = await this.metadata(undefined, [id])
      return md !== undefined && !md.brokers.some((b) => b.id === id)
    }, ms)) === true
  }

  async kill(id: number): Promise<void> {
    if (this.admin?.id === id) await this.dropAdmin()
    await this.broker(id).runner.kill()
  }

  /**
   * Start broker `id` again on its port and data dir. With `wipe`, its data
   * directory is removed first, and the start waits for the old registration
   * to expire: a broker refuses an id still registered by another data
   * directory (docs/cluster.md), which a wiped one is.
   */
  async restart(id: number, opts: { wipe?: boolean } = {}): Promise<void> {
    const b = this.broker(id)
    await this.kill(id)
    if (opts.wipe) {
      fs.rmSync(b.dataDir, { recursive: true, force: true })
      await this.waitGone(id, 10_000)
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await b.runner.start()
        return
      } catch (err) {
        if (attempt >= 3) throw err
        await sleep(1000)
      }
    }
  }

  signal(id: number, sig: 'SIGSTOP' | 'SIGCONT'): void {
    const r = this.broker(id).runner
    if (r.running) process.kill(r.pid, sig)
  }

  /** Every link open, every process running (a paused one resumed). */
  healLinks(): void {
    for (const b of this.brokers) {
      b.advertised.heal()
      for (const l of b.etcdLinks) l.heal()
    }
  }

  resumeAll(): void {
    for (const b of this.brokers) this.signal(b.id, 'SIGCONT')
    for (let i = 0; i < this.etcd.members.length; i++) {
      try {
        this.etcd.resume(i)
      } catch {
        // not running
      }
    }
  }

  /** SIGTERM every broker (SIGKILL after 15 s): their logs are then closed and can be read. */
  async stopBrokers(): Promise<void> {
    await this.dropAdmin()
    await Promise.all(this.brokers.map((b) => b.runner.stop()))
  }

  /** Stop everything and remove the brokers' data, unless `keepData` (a run to look into afterwards). */
  async close(opts: { keepData?: boolean } = {}): Promise<void> {
    await this.dropAdmin()
    this.resumeAll()
    await Promise.all(this.brokers.map((b) => b.runner.kill()))
    await Promise.all(this.proxies.map((p) => p.close()))
    await this.etcd.stop()
    if (!opts.keepData) fs.rmSync(this.dir, { recursive: true, force: true })
    this.forgetDir()
  }
}

/**
 * A broker started on a port picked now, which its advertised proxy then
 * forwards to. A free port can be taken by another process between the pick
 * and the broker's bind (an HTTP port 0, an outgoing connection): the start
 * is tried again on another port then. Restarts keep the port.
 */
async function startOnFreePort(dataDir: string, args: string[], target: { port: number }): Promise<BrokerRunner> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    target.port = port
    const runner = await BrokerRunner.create({ dataDir, port, args })
    try {
      await runner.start()
      return runner
    } catch (err) {
      await runner.kill()
      if (attempt >= 4 || !/already in use/.test(String(err))) throw err
    }
  }
}
