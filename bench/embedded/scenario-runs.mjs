/**
 * `bench/run.mjs --topology embedded [--against nats,redis,rabbitmq] [--warm]`:
 * every run of every scenario on skiffmq, then on each named broker, the
 * brokers taking turns within each repeat (so a machine that gets busier
 * part-way hurts them alike). A broker whose server cannot start (binary
 * missing) or whose adapter is absent gives one 'not available' row and is
 * not tried again; a run that fails is a 'failed' row and the bench goes on.
 */
import { runEmbedded } from './run-embedded.mjs'

/** The brokers `--against` may name (bench/embedded/adapters/<name>.mjs, bench/peers/). */
export const PEER_BROKERS = ['nats', 'redis', 'rabbitmq']

/** UDP telemetry needs skiffmq's UDP ingest, which the other brokers lack: no embedded form. */
export const EMBEDDED_SKIPS = new Set(['S7'])

/** Pool scaling and fsync policy vary skiffmq's own --workers and --fsync: nothing to compare on another broker. */
const SKIFFMQ_ONLY = new Set(['S8', 'S9'])

/**
 * @param {{ scenarios: object[], full: boolean, repeat?: number, warm: boolean, against: string[] }} opts
 * @param {{ base(s, run, repeat): object, keep(record): void, progress?: object, adapterDir?: string }} io
 * @returns {Promise<boolean>} whether any run failed
 */
export async function runEmbeddedScenarios(opts, io) {
  const brokers = ['skiffmq', ...opts.against]
  const unavailable = new Set()
  let failed = false
  for (const s of opts.scenarios) {
    const repeat = opts.repeat ?? (opts.full ? (s.repeatFull ?? 1) : 1)
    for (const run of s.runs(opts.full)) {
      for (let i = 0; i < repeat; i++) {
        for (const broker of SKIFFMQ_ONLY.has(s.id) ? ['skiffmq'] : brokers) {
          if (unavailable.has(broker)) continue
          const label = `${s.id} ${s.name} on ${broker} (${run.variant}${repeat > 1 ? `, run ${i + 1}/${repeat}` : ''})`
          const base = io.base(s, run, i + 1)
          let record
          try {
            const result = await runEmbedded(run.workload, { adapter: broker, adapterDir: io.adapterDir, warm: opts.warm, label, progress: io.progress })
            record = { ...base, ...result }
            if (result.outcome === 'not available') unavailable.add(broker)
          } catch (err) {
            failed = true
            record = { ...base, topology: 'embedded', broker, outcome: 'failed', error: err?.stack ?? String(err) }
          }
          io.keep(record, label)
        }
      }
    }
  }
  return failed
}
