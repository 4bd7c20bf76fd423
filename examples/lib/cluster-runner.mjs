/**
 * Demo scaffolding for the cluster example, not part of using skiffmq: a
 * throwaway cluster on this machine. Three etcd members (bench/lib/etcd-process.mjs, Debian's etcd,
 * `apt-get install etcd-server`) and three `skiff broker` processes on free
 * loopback ports, each with a temp data dir; everything is stopped (SIGKILL
 * by PID for etcd: SIGTERM on its last member can hang) and removed on every
 * path. In production etcd and each broker run as services of their own
 * (docs/cluster.md).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { ROOT } from './demo-runner.mjs'
import { freePort } from '../../bench/lib/free-port.mjs'
import { startEtcd } from '../../bench/lib/etcd-process.mjs'

export { ETCD_BIN as ETCD } from '../../bench/lib/etcd-process.mjs'

const SKIFF = path.join(ROOT, 'dist/cli/skiff.js')

/** Start etcd members and brokers; returns handles to stop or restart a broker, and stop everything. */
export async function startCluster({ brokers = 3, log = console.log } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-example-cluster-'))
  const children = new Set()
  const track = (child) => {
    children.add(child)
    child.once('exit', () => children.delete(child))
    return child
  }
  let etcd
  const stop = () => {
    for (const c of children) c.kill('SIGKILL')
    etcd?.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    etcd = await startEtcd(3)
    const endpoints = etcd.endpoints
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
