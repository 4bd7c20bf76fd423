/**
 * A redis-server for one bench run: 127.0.0.1 on a free port, its own temp
 * dir, no RDB snapshots; the append-only file with `appendfsync always` only
 * when the run is durable.
 */
import { freePort } from '../lib/free-port.mjs'
import { makeTempDir, requireBinary, startServerProcess, tcpProbe } from './server-process.mjs'

/**
 * @param {{ aof: boolean }} opts  aof: appendonly yes with appendfsync always
 * @returns {Promise<{ port: number, pid: number, dir: string, logTail(): string[], stop(): Promise<void> }>}
 */
export async function startRedisServer({ aof }) {
  const binary = requireBinary('redis-server')
  const port = await freePort()
  const dir = makeTempDir('redis')
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--daemonize', 'no',
    '--protected-mode', 'no',
    '--logfile', '',
    // RDB snapshots would fork the server mid-run; durability comes from the AOF.
    '--save', '',
    '--appendonly', aof ? 'yes' : 'no',
    '--appendfsync', 'always',
    // A pub/sub subscriber is cut when its output buffer passes this limit
    // (default 32 MB hard, 8 MB for 60 s). The fire-and-forget run uses pub/sub
    // and a Node subscriber can fall that far behind a burst: unbounded here so
    // the run measures delivery, and the server's peak RSS shows what it cost.
    '--client-output-buffer-limit', 'pubsub 0 0 0',
  ]
  const server = await startServerProcess({
    label: 'redis-server',
    binary,
    args,
    dir,
    ready: () => tcpProbe(port, { send: 'PING\r\n', expect: '+PONG' }),
  })
  return { port, ...server }
}
