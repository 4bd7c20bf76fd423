/**
 * A RabbitMQ node for one bench run, isolated from any system install: the
 * AMQP listener, the Erlang distribution port and its own epmd each on a free
 * 127.0.0.1 port, its own node name, mnesia, log, config, plugins file and
 * Erlang cookie (HOME) in a fresh temp dir, no plugins. The VM runs as the
 * leader of its own process group (beam.smp and erl_child_setup); epmd is
 * started by us in the foreground so stop() can kill it by pid too.
 */
import fs from 'node:fs'
import path from 'node:path'
import { freePorts } from '../lib/free-port.mjs'
import { findBinary, makeTempDir, requireBinary, spawnCompanion, startServerProcess, tcpProbe } from './server-process.mjs'

// Debian's /usr/sbin/rabbitmq-server is a wrapper that switches to the
// rabbitmq user and logs to /var/log; the script it wraps runs the node as is.
const DEBIAN_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server'
const READY_TIMEOUT_MS = 60_000

/** @returns {Promise<{ port: number, pid: number, dir: string, logTail(): string[], stop(): Promise<void> }>} */
export async function startRabbitmqServer() {
  const binary = findBinary(DEBIAN_SCRIPT) ?? requireBinary('rabbitmq-server')
  const epmdBinary = requireBinary('epmd')
  const [port, distPort, epmdPort] = await freePorts(3)
  const dir = makeTempDir('rabbitmq')
  const logDir = path.join(dir, 'log')
  fs.mkdirSync(logDir)
  const conf = path.join(dir, 'rabbitmq.conf')
  fs.writeFileSync(
    conf,
    [
      // guest may connect: the bench connects over loopback only.
      'loopback_users = none',
      'log.console = false',
      'log.file.level = warning',
    ].join('\n') + '\n',
  )
  const pluginsFile = path.join(dir, 'enabled_plugins')
  fs.writeFileSync(pluginsFile, '[].\n')
  const envFile = path.join(dir, 'rabbitmq-env.conf')
  fs.writeFileSync(envFile, '')
  const logFile = path.join(logDir, 'rabbit.log')

  const env = {
    HOME: dir, // the Erlang cookie is created here, not in the user's home
    RABBITMQ_NODENAME: `skiffbench${port}@localhost`,
    RABBITMQ_USE_LONGNAME: 'false',
    // The AMQP listener (one listener: naming it in rabbitmq.conf as well would bind it twice).
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_BASE: dir,
    RABBITMQ_CONF_ENV_FILE: envFile,
    RABBITMQ_CONFIG_FILE: conf,
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: pluginsFile,
    RABBITMQ_ENABLED_PLUGINS: '',
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: logDir,
    RABBITMQ_LOGS: logFile,
    RABBITMQ_PID_FILE: path.join(dir, 'rabbit.pid'),
    // The script then execs the VM instead of waiting on it from a shell, so
    // the pid we hold is beam.smp's (for RSS and CPU).
    RUNNING_UNDER_SYSTEMD: '1',
    // epmd is ours (below); the VM must not start a daemonised one we could not track.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-start_epmd false',
  }
  const epmd = spawnCompanion(epmdBinary, ['-port', String(epmdPort), '-address', '127.0.0.1'], { ERL_EPMD_PORT: String(epmdPort) })
  let server
  try {
    server = await startServerProcess({
      label: 'rabbitmq-server',
      binary,
      args: [],
      env,
      dir,
      processGroup: true,
      companions: [epmd],
      readyTimeoutMs: READY_TIMEOUT_MS,
      // The AMQP 0-9-1 header; a booted node answers with connection.start,
      // whose server properties name the product.
      ready: () => tcpProbe(port, { send: Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'), expect: 'RabbitMQ' }),
      logFiles: () => [logFile],
    })
  } catch (err) {
    epmd.kill('SIGKILL')
    throw err
  }
  return { port, ...server }
}
