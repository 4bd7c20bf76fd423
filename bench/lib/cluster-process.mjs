/**
 * A cluster under test (`skiff bench <S> --cluster N`): one etcd member and N
 * brokers on this machine, each broker as startBrokerProcess starts one, with
 * the same options plus --cluster. It looks like one broker to the workload:
 * `url` is the seed list, and `sample()` adds the brokers' CPU and their peak
 * RSS, so "broker CPU per message" is the whole cluster's.
 *
 * Decision: one etcd member, not three. etcd is off the data path (brokers
 * talk to it at start, on topic creation and for lease renewals), and on a
 * 2-core machine two more members would only take cores from the brokers.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startBrokerProcess } from './broker-process.mjs'

export const ETCD_BIN = process.env.SKIFF_ETCD_BIN ?? '/usr/bin/etcd'

async function freePort() {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function startEtcd() {
  if (!fs.existsSync(ETCD_BIN)) throw new Error(`--cluster needs etcd at ${ETCD_BIN} (Debian: apt-get install etcd-server)`)
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
  const dir = fs.mkdtempSync(path.join(base, 'skiff-bench-etcd-'))
  const [client, peer] = [await freePort(), await freePort()]
  const child = spawn(ETCD_BIN, ['--name', 'bench', '--data-dir', dir, '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `bench=http://127.0.0.1:${peer}`, '--log-level', 'error', '--logger', 'zap'], { stdio: 'ignore' })
  const stop = () => {
    child.kill('SIGKILL')
    fs.rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', stop)
  // Ready when its client port accepts connections (the brokers retry their first calls anyway).
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect(client, '127.0.0.1', () => (s.destroy(), resolve(true)))
      s.once('error', () => resolve(false))
    })
    if (up) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return { endpoints: `etcd://127.0.0.1:${client}`, stop }
}

export async function startClusterProcesses(size, opts = {}) {
  const etcd = await startEtcd()
  const brokers = []
  try {
    for (let id = 1; id <= size; id++) {
      brokers.push(await startBrokerProcess({ ...opts, extraArgs: [...(opts.extraArgs ?? []), '--cluster', etcd.endpoints, '--broker-id', String(id), '--cluster-name', 'bench'] }))
    }
  } catch (err) {
    await Promise.all(brokers.map((b) => b.stop()))
    etcd.stop()
    throw err
  }
  const add = (samples, key) => (samples.some((s) => s[key] === null) ? null : samples.reduce((a, s) => a + s[key], 0))
  return {
    pid: brokers[0].pid,
    port: brokers[0].port,
    httpPort: brokers[0].httpPort,
    udpPort: brokers[0].udpPort,
    url: brokers.map((b) => b.url).join(','),
    brokers: size,
    sample() {
      const samples = brokers.map((b) => b.sample())
      return { peakRssMiB: add(samples, 'peakRssMiB'), cpuSeconds: add(samples, 'cpuSeconds'), mainThreadCpuSeconds: add(samples, 'mainThreadCpuSeconds') }
    },
    logTail: () => brokers.flatMap((b, i) => b.logTail().map((l) => `[broker ${i + 1}] ${l}`)),
    async stop() {
      await Promise.all(brokers.map((b) => b.stop()))
      etcd.stop()
    },
  }
}
