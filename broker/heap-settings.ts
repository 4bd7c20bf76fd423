/**
 * The V8 heap setting the broker runs with: each isolate's old generation
 * starts at INITIAL_OLD_SPACE_MB instead of V8's default, which sizes it
 * from the live JS heap (about 15 MB in a broker).
 *
 * Why: a broker's records live in Buffers, outside the JS heap, and with the
 * default start each isolate ran a full mark-compact after every few tens of
 * MB of Buffers allocated, freeing almost nothing on the JS heap (16.9 ->
 * 15.2 MB was typical). A replicated broker allocates about five times the
 * bytes of the records it handles (socket reads, frames, the messages to its
 * worker, REPL_DATA out and in): in a replicated S1 run of 400,000 records
 * that was 8-25 mark-compacts per broker (7 on a single broker), with their
 * concurrent marking on V8's helper threads taking about a fifth of the
 * brokers' CPU. Starting at 64 MiB: 2 per broker, and the cluster's broker
 * CPU per message fell from 19.7 to 14.7 µs (bench/README.md, "Round 7").
 * Cost: up to 64 MiB of the old generation may fill before the first
 * mark-compact; peak RSS moved by -18 to +18 MiB in the embedded S1-S3 and S6
 * runs (more where records are 64 KiB), and an idle broker allocates nothing,
 * so it is unchanged. 128 MiB gained a little more for more memory.
 *
 * Where it is set: V8 reads it when an isolate is created, so for the main
 * thread it has to be on node's command line (NODE_OPTIONS does not take it):
 * `npm start`, the Dockerfile and the systemd unit (deploy/ and the EC2
 * stack) give HEAP_FLAG to node (test/package/heap-flag.test.ts,
 * test/deploy/docker-image.test.ts and systemd-unit.test.ts check each).
 * Not the `skiff` command's shebang: `env -S`, which a shebang needs to pass
 * a flag, is missing from busybox (Alpine), where it would break every
 * command. The worker threads get it from setWorkerHeapFlag() when the
 * command line did not give it, so a broker started as plain `skiff broker`
 * still has it in its workers.
 */
import v8 from 'node:v8'

export const INITIAL_OLD_SPACE_MB = 64
export const HEAP_FLAG = `--initial-old-space-size=${INITIAL_OLD_SPACE_MB}`

/** Before the workers are created: give their isolates HEAP_FLAG unless node's command line set the old space's start (then that value holds for them too). */
export function setWorkerHeapFlag(): void {
  if (process.execArgv.some((a) => a.startsWith('--initial-old-space-size'))) return
  v8.setFlagsFromString(HEAP_FLAG)
}
