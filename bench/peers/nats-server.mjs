/**
 * A nats-server for one bench run: 127.0.0.1 on a free port, its own temp
 * dir, JetStream (file storage in that dir) only when the run is durable.
 */
import fs from 'node:fs'
import path from 'node:path'
import { freePort } from '../lib/free-port.mjs'
import { makeTempDir, requireBinary, startServerProcess, tcpProbe } from './server-process.mjs'

/**
 * @param {{ jetstream: boolean }} opts
 * @returns {Promise<{ port: number, pid: number, dir: string, logTail(): string[], stop(): Promise<void> }>}
 */
export async function startNatsServer({ jetstream }) {
  const binary = requireBinary('nats-server')
  const port = await freePort()
  const dir = makeTempDir('nats')
  const conf = path.join(dir, 'nats.conf')
  const lines = [
    // Only the client port: no monitoring, cluster or leafnode listeners.
    `listen: "127.0.0.1:${port}"`,
  ]
  if (jetstream) {
    lines.push(`jetstream { store_dir: "${path.join(dir, 'jetstream')}" }`)
  }
  fs.writeFileSync(conf, lines.join('\n') + '\n')
  const server = await startServerProcess({
    label: 'nats-server',
    binary,
    args: ['-c', conf],
    dir,
    ready: () => tcpProbe(port, { expect: 'INFO ' }),
  })
  return { port, ...server }
}
