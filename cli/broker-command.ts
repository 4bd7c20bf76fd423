/**
 * `skiff broker`: the daemon. Every option of BrokerConfig is a flag (kebab
 * case), an environment variable (SKIFF_*) and a config-file key, in that
 * order of precedence; the flags are generated from the config table so the
 * three cannot drift apart.
 *
 * A broker that cannot start says why in one line on stderr and exits
 * non-zero: 2 for a bad option or config value, 1 for anything else (a port
 * in use or not allowed, a data directory it cannot write). The stack trace
 * follows only with --debug or SKIFF_DEBUG=1.
 */
import type { Argv, ArgumentsCamelCase } from 'yargs'
import { DEFAULTS, DESCRIPTIONS, envName, loadConfig, ConfigError, type BrokerConfig, type ConfigKey } from '../broker/config.js'
import type { RunningBroker } from '../broker/index.js'
import { debugWanted, processIO, reportFailure, usageErrors, type CliIO } from './commands/client-common.js'
import { checkDataDir, startFailureMessage } from './start-failure.js'
import { onReaderGone } from './reader-gone.js'
import { kebab, optionType } from './broker-args.js'

export function registerBrokerCommand(y: Argv, io: CliIO = processIO): Argv {
  const usage = usageErrors(io, 'broker')
  return y.command(
    'broker',
    'run the broker daemon',
    (b) => brokerOptions(usage.on(b)),
    usage.handler((argv: ArgumentsCamelCase<Record<string, unknown>>) => runBroker(io, argv)),
  )
}

/** The broker's options on a yargs command: one per config key, typed as its default is (broker-args.ts reads the same ones). */
export function brokerOptions(b: Argv): Argv {
  for (const key of Object.keys(DEFAULTS) as ConfigKey[]) {
    b.option(kebab(key), {
      type: optionType(key),
      describe: `${DESCRIPTIONS[key]} [default: ${JSON.stringify(DEFAULTS[key])}] (env ${envName(key)})`,
    })
  }
  return b.option('config', { type: 'string', describe: 'JSON config file (flags and env override it)' })
}

/** Start the broker from its parsed command line (yargs' or parseBrokerArgs'), stop it on SIGTERM/SIGINT. */
export async function runBroker(io: CliIO, argv: Record<string, unknown>): Promise<void> {
  const debug = debugWanted(io, argv)
  const flags: Partial<Record<ConfigKey, unknown>> = {}
  for (const key of Object.keys(DEFAULTS) as ConfigKey[]) {
    const v = argv[key]
    // A flag given twice: the last one wins, as in most daemons' command lines.
    if (v !== undefined) flags[key] = Array.isArray(v) ? v[v.length - 1] : v
  }
  let config: BrokerConfig
  try {
    // yargs turns `--port abc` into NaN; say what was typed instead of "not null".
    for (const [key, v] of Object.entries(flags)) {
      if (typeof v === 'number' && Number.isNaN(v)) throw new ConfigError(`--${kebab(key)} must be a number, not ${JSON.stringify(typedValue(io.args, kebab(key)) ?? String(v))}`)
    }
    config = loadConfig(flags as Partial<BrokerConfig>, io.env, argv.config as string | undefined)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    reportFailure(io, 'broker', startFailureMessage(err, DEFAULTS), err, debug)
    return process.exit(2)
  }
  // Loaded here, not at the top: every other command (topics, pub, --version...) would pay for
  // compiling the whole broker, about half of their start-up time. Before the start, so that
  // nothing awaits between the start and the handlers below (a reader gone meanwhile).
  const { startBroker, logStream } = await import('../broker/index.js')
  let broker: RunningBroker
  try {
    checkDataDir(config.dataDir)
    broker = await startBroker(config)
  } catch (err) {
    reportFailure(io, 'broker', startFailureMessage(err, config), err, debug)
    // Exit now: a failed start may leave a half-closed handle that would keep the process up.
    return process.exit(err instanceof ConfigError ? 2 : 1)
  }
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      broker.logger.warn({ signal }, 'second signal: exiting without draining')
      process.exit(1)
    }
    stopping = true
    broker.logger.info({ signal }, 'shutting down')
    broker.close().then(
      () => process.exit(0),
      (err: Error) => {
        broker.logger.error({ err: err.stack }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  // The reader of the logs went away (`skiff broker | head`): stop as on SIGTERM, then exit 0.
  // pino writes through its own stream, which drops lines after EPIPE; its error event tells us.
  onReaderGone(() => stop('stdout closed'))
  logStream(broker.logger)?.on?.('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' && !stopping) stop('stdout closed')
  })
}

/** The value typed after `--name` (or as `--name=value`), the last one when given twice. */
function typedValue(args: readonly string[] | undefined, name: string): string | undefined {
  let found: string | undefined
  for (let i = 0; i < (args?.length ?? 0); i++) {
    const a = args![i]!
    if (a === `--${name}`) found = args![i + 1]
    else if (a.startsWith(`--${name}=`)) found = a.slice(name.length + 3)
  }
  return found
}
