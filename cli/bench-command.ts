/**
 * `skiff bench [scenario..] [--full] [--json] [--repeat N] [--record]
 * [--profile DIR] [--cold] [--cluster N [--replication-factor R]] [--topology embedded [--warm]
 * [--against nats,redis,rabbitmq]]`: runs the bench (bench/run.mjs) in a child process. The
 * bench starts its own broker and client processes from the built code, so
 * this command only finds the script and passes the arguments through; the
 * scenarios are defined in bench/README.md.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Argv } from 'yargs'

/** bench/run.mjs in the package root, found from dist/cli (built) or cli (source). */
export function findBenchScript(from = path.dirname(fileURLToPath(import.meta.url))): string | undefined {
  let dir = from
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'bench', 'run.mjs')
    if (existsSync(candidate)) return candidate
    dir = path.dirname(dir)
  }
  return undefined
}

export function registerBenchCommand(y: Argv): Argv {
  return y.command(
    'bench [scenarios..]',
    'run the benchmark scenarios (S1-S9, or "all"; default S1-S7 in quick mode) against a broker it starts itself; --topology embedded runs each in one application process, --against compares NATS, Redis and RabbitMQ',
    (b) =>
      b
        .positional('scenarios', { type: 'string', array: true, describe: 'S1 ... S9, a scenario name (durable-ack, ...) or all' })
        .option('full', { type: 'boolean', default: false, describe: 'the full sizes of bench/README.md (default: quick sizes, same shapes)' })
        .option('json', { type: 'boolean', default: false, describe: 'one JSON object per run on stdout' })
        .option('repeat', { type: 'number', describe: 'run each scenario N times' })
        .option('record', { type: 'boolean', default: false, describe: 'write bench/RESULTS.md, bench/results.jsonl and the charts' })
        .option('profile', { type: 'string', describe: 'node --cpu-prof every process into this folder' })
        .option('cluster', { type: 'number', describe: 'also run each scenario on a cluster of N brokers on one etcd (2-5), beside one broker' })
        .option('cold', { type: 'boolean', default: false, describe: 'no warm-up phase: measure from cold processes' })
        .option('topology', {
          type: 'string',
          describe: 'processes (default: the clients in processes of their own) or embedded (one application process per run: consumers on its main thread, producers in one worker thread)',
        })
        .option('warm', { type: 'boolean', default: false, describe: 'with --topology embedded: a warm-up phase before the measured one (default cold)' })
        .option('against', { type: 'string', describe: 'with --topology embedded: also run each scenario on these brokers, taking turns with skiffmq (nats,redis,rabbitmq; install them with bench/peers/setup.sh)' }),
    async (argv) => {
      const script = findBenchScript()
      if (!script) {
        process.stderr.write('skiff bench: bench/run.mjs not found next to this installation\n')
        process.exit(2)
      }
      const args = [script, ...((argv.scenarios as string[] | undefined) ?? [])]
      if (argv.full) args.push('--full')
      if (argv.json) args.push('--json')
      if (argv.record) args.push('--record')
      if (argv.repeat !== undefined) args.push('--repeat', String(argv.repeat))
      if (argv.profile !== undefined) args.push('--profile', String(argv.profile))
      if (argv.cluster !== undefined) args.push('--cluster', String(argv.cluster))
      if (argv.cold) args.push('--cold')
      if (argv.topology !== undefined) args.push('--topology', String(argv.topology))
      if (argv.warm) args.push('--warm')
      if (argv.against !== undefined) args.push('--against', String(argv.against))
      const child = spawn(process.execPath, args, { stdio: 'inherit' })
      // Ctrl-C reaches the bench through the terminal's process group; the bench stops its own children.
      const code = await new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))))
      process.exit(code)
    },
  )
}
