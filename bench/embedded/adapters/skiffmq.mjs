/**
 * skiffmq in the embedded topology (contract: ../adapter.mjs), through the
 * built client (dist/clients) the way the multi-process roles use it
 * (bench/roles/producer.mjs, consumer.mjs): publish() waits for the broker's
 * confirm, send() is fire and forget, subscribe() with maxInFlight credits.
 *
 * The server is bench/lib/broker-process.mjs, as in the multi-process runs:
 * the built `skiff broker` with the workload's --workers, --fsync and
 * --default-partitions, a fresh temp data dir. It listens on port 0 and the
 * port is read from its `listening` log line, which cannot race another
 * process for the port the way a port picked in advance (free-port.mjs) can.
 */
import { startBrokerProcess } from '../../lib/broker-process.mjs'
import { CLIENT_MODULE } from '../../lib/paths.mjs'

const { connect } = await import(CLIENT_MODULE)

export const name = 'skiffmq'

/** What a confirm means under the workload's fsync policy (S2 has no confirm: send() only). */
export function durability(workload) {
  const fsync = workload.broker?.fsync ?? 'always'
  const log = fsync === 'always' ? 'fsync always' : fsync === 'never' ? 'no fsync' : `fsync every ${fsync.split(':')[1]} ms`
  if (workload.producers && workload.producers.confirm === false) return `no confirm (send(), at most once); ${log}`
  if (fsync === 'always') return 'fsync before confirm'
  return `confirm before fsync (${log})`
}

export async function startServer(workload) {
  const b = workload.broker ?? {}
  // BENCH_NODE_FLAGS reaches the broker here as in the multi-process topology (e.g. '--cpu-prof --cpu-prof-dir=DIR').
  const execArgv = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean)
  const broker = await startBrokerProcess({ workers: b.workers, fsync: b.fsync, partitions: b.partitions, execArgv })
  return {
    connectInfo: { url: broker.url },
    pid: broker.pid,
    async stop() {
      // The contract: SIGKILL (no graceful shutdown inside the bench's time), then stop() waits for the exit and removes the dir.
      // A profiled broker (BENCH_NODE_FLAGS with --cpu-prof) stops gracefully instead: the profile is written at exit.
      if (!execArgv.includes('--cpu-prof')) {
        try {
          process.kill(broker.pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      await broker.stop()
    },
  }
}

/** The topic with the workload's partitions (the broker would also create it on first use); groups are created by their first subscribe, from 'earliest'. */
export async function prepare(connectInfo, { topic, partitions = 1 }) {
  const client = await connect(connectInfo.url, { name: 'bench-prepare', reconnect: false })
  try {
    await client.admin.createTopic(topic, { partitions })
  } catch (err) {
    if (err?.code !== 'TOPIC_EXISTS') throw err
  } finally {
    await client.close()
  }
}

/** One connection, one producer on it. publish() copies the payload into its record at once, so the caller may reuse it. */
export async function producer(connectInfo, { topic, maxInFlight = 1000 }) {
  const client = await connect(connectInfo.url, { name: 'bench-producer' })
  const p = client.producer({ maxInFlight })
  return {
    publish: (payload) => p.publish(topic, payload),
    send: (payload) => p.send(topic, payload),
    flush: () => p.flush(),
    close: () => client.close(),
  }
}

/** One connection, one member of `group`, reading from the earliest offset; ack 'none' is the client's at-most-once mode. */
export async function consumer(connectInfo, { topic, group, maxInFlight = 1000, ack = 'each' }, onMessage) {
  const client = await connect(connectInfo.url, { name: `bench-consumer-${group}` })
  const sub = await client.subscribe(topic, { group, from: 'earliest', maxInFlight, ack: ack === 'none' ? 'none' : 'explicit' })
  const loop = (async () => {
    for await (const m of sub) {
      onMessage(m.payload)
      if (ack !== 'none') m.ack()
    }
  })()
  return {
    async close() {
      await sub.close()
      await loop
      await client.close()
    },
  }
}
