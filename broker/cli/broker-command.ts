/**
 * `skiff broker`: the daemon. Every option of BrokerConfig is a flag (kebab
 * case), an environment variable (SKIFF_*) and a config-file key, in that
 * order of precedence; the flags are generated from the config table so the
 * three cannot drift apart.
 */
import type { Argv, ArgumentsCamelCase } from 'yargs'
import { DEFAULTS, DESCRIPTIONS, envName, loadConfig, ConfigError, type BrokerConfig, type ConfigKey } from '../config.js'
import { startBroker } from '../index.js'

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())

export function registerBrokerCommand(y: Argv): Argv {
  return y.command(
    'broker',
    'run the broker daemon',
    (b) => {
      for (const key of Object.keys(DEFAULTS) as ConfigKey[]) {
        const d = DEFAULTS[key]
        b.option(kebab(key), {
          type: typeof d === 'number' ? 'number' : typeof d === 'boolean' ? 'boolean' : 'string',
          describe: `${DESCRIPTIONS[key]} [default: ${JSON.stringify(d)}] (env ${envName(key)})`,
        })
      }
      return b.option('config', { type: 'string', describe: 'JSON config file (flags and env override it)' })
    },
    (argv) => runBroker(argv),
  )
}

async function runBroker(argv: ArgumentsCamelCase<Record<string, unknown>>): Promise<void> {
  const flags: Partial<Record<ConfigKey, unknown>> = {}
  for (const key of Object.keys(DEFAULTS) as ConfigKey[]) {
    const v = argv[key]
    // A flag given twice: the last one wins, as in most daemons' command lines.
    if (v !== undefined) flags[key] = Array.isArray(v) ? v[v.length - 1] : v
  }
  let config: BrokerConfig
  try {
    config = loadConfig(flags as Partial<BrokerConfig>, process.env, argv.config as string | undefined)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`skiff broker: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  const broker = await startBroker(config)
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
}
