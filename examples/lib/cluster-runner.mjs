/**
 * Demo scaffolding for the cluster example, not part of using skiffmq: a
 * throwaway cluster on this machine. Three etcd members (Debian's etcd,
 * `apt-get install etcd-server`) and three `skiff broker` processes on free
 * loopback ports, each with a temp data dir; everything is stopped (SIGKILL
 * by PID for etcd: SIGTERM on its last member can hang) and removed on every
 * path. In production etcd and each broker run as services of their own
 * (docs/cluster.md).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { ROOT } from './demo-runner.mjs'

const SKIFF = path.join(ROOT, 'dist/cli/skiff.js')
export const ETCD = process.env.SKIFF_ETCD_BIN ?? '/usr/bin/etcd'

async function freePort() {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Start etcd members and brokers; returns handles to stop or restart a broker, and stop everything. */
export async function startCluster({ brokers = 3, log = console.log } = {}) {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
  const dir = fs.mkdtempSync(path.join(base, 'skiff-example-cluster-'))
  const children = new Set()
  const track = (child) => {
    children.add(child)
    child.once('exit', () => children.delete(child))
    return child
  }
  const stop = () => {
    for (const c of children) c.kill('SIGKILL')
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    const members = []
    for (let i = 0; i < 3; i++) members.push({ name: `etcd${i}`, client: await freePort(), peer: await freePort() })
    const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',')
    for (const m of members) {
      track(spawn(ETCD, ['--name', m.name, '--data-dir', path.join(dir, m.name), '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
        '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-cluster', initial,
        '--initial-cluster-state', 'new', '--log-level', 'error', '--logger', 'zap'], { stdio: 'ignore' }))
    }
    const endpoints = members.map((m) => `127.0.0.1:${m.client}`).join(',')
    log(`etcd: 3 members at ${endpoints}`)
    const list = []
    for (let id = 1; id <= brokers; id++) {
      const broker = { id, port: await freePort(), dataDir: path.join(dir, `broker-${id}`), child: undefined }
      broker.start = async () => {
        const child = track(spawn(process.execPath, [SKIFF, 'broker', '--cluster', `etcd://${endpoints}`, '--broker-id', String(id), '--cluster-name', 'example',
          '--port', String(broker.port), '--http-port', '0', '--data-dir', broker.dataDir, '--workers', '1', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] }))
        broker.child = child
        let stderr = ''
        child.stderr.on('data', (d) => (stderr += d))
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`broker ${id} did not start: ${stderr}`)), 20_000)
          readline.createInterface({ input: child.stdout }).on('line', (line) => {
            if (line.includes('"msg":"listening"')) {
              clearTimeout(timer)
              resolve()
            }
          })
          child.once('exit', (code) => reject(new Error(`broker ${id} exited with ${code}: ${stderr}`)))
        })
      }
      broker.kill = async () => {
        const exited = new Promise((resolve) => broker.child.once('exit', resolve))
        broker.child.kill('SIGKILL')
        await exited
      }
      list.push(broker)
    }
    await Promise.all(list.map((b) => b.start()))
    log(`brokers: ${list.map((b) => `${b.id} at 127.0.0.1:${b.port}`).join(', ')}`)
    return { brokers: list, seeds: list.map((b) => `skiff://127.0.0.1:${b.port}`).join(','), stop }
  } catch (err) {
    stop()
    throw err
  }
}
