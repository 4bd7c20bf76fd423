/**
 * Throwaway etcd members on this machine, for `skiff bench --cluster` and the
 * cluster example: Debian's etcd (`apt-get install etcd-server`;
 * SKIFF_ETCD_BIN names another) on free loopback ports, data under /dev/shm.
 * stop() SIGKILLs them by PID (SIGTERM on the last member can hang) and
 * removes their data; it also runs when the process exits.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { freePorts } from './free-port.mjs'
import { atExit } from './at-exit.mjs'

export const ETCD_BIN = process.env.SKIFF_ETCD_BIN ?? '/usr/bin/etcd'

/** Start `size` members; resolves once the first accepts connections, with `endpoints` as `host:port,...`. */
export async function startEtcd(size = 1) {
  if (!fs.existsSync(ETCD_BIN)) throw new Error(`needs etcd at ${ETCD_BIN} (Debian: apt-get install etcd-server)`)
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
  const dir = fs.mkdtempSync(path.join(base, 'skiff-etcd-'))
  const members = []
  const ports = await freePorts(2 * size)
  for (let i = 0; i < size; i++) members.push({ name: `etcd${i}`, client: ports[2 * i], peer: ports[2 * i + 1] })
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',')
  const children = members.map((m) =>
    spawn(ETCD_BIN, ['--name', m.name, '--data-dir', path.join(dir, m.name), '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-cluster', initial,
      '--initial-cluster-state', 'new', '--log-level', 'error', '--logger', 'zap'], { stdio: 'ignore' }),
  )
  const stop = () => {
    forget()
    for (const c of children) c.kill('SIGKILL')
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const forget = atExit(stop)
  // Ready when a client port accepts connections (the brokers retry their first calls anyway).
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect(members[0].client, '127.0.0.1', () => (s.destroy(), resolve(true)))
      s.once('error', () => resolve(false))
    })
    if (up) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return { endpoints: members.map((m) => `127.0.0.1:${m.client}`).join(','), stop }
}
