/**
 * What the embedded topology (bench/embedded/) asks of a broker: one module per
 * broker under bench/embedded/adapters/<name>.mjs (skiffmq.mjs, nats.mjs,
 * redis.mjs, rabbitmq.mjs), each with these named exports, each speaking
 * through that broker's own Node client. The runner imports the same module on
 * the main thread (server, prepare, consumers) and in the producers' worker
 * thread (producer), so everything passed between them is plain data.
 *
 *   name: string
 *     'skiffmq' | 'nats' | 'redis' | 'rabbitmq'
 *
 *   durability(workload): string
 *     What a confirm means in the mode this adapter runs the workload in, as the
 *     results table states it, e.g. 'fsync before confirm' or 'confirm before
 *     fsync (AOF everysec)'. S2 (producers.confirm false) runs each broker in its
 *     fastest mode; every other scenario in its durable mode.
 *
 *   startServer(workload): Promise<Server>
 *     A fresh server for one run: a free 127.0.0.1 port (bench/lib/free-port.mjs),
 *     its own temp data dir, started as a child process and ready to serve.
 *     Server = { connectInfo, pid, stop(): Promise<void> }
 *       connectInfo  plain data (structured-cloneable) the other calls take
 *       pid          the server process, for RSS and CPU (bench/lib/proc-stats.mjs)
 *       stop()       SIGKILL by pid, wait for exit, remove the data dir
 *
 *   prepare(connectInfo, { topic, partitions, groups }): Promise<void>
 *     Create what the workload publishes to and reads from, before any client
 *     starts: groups is the list of consumer group names (S3 has four; every
 *     group receives every message).
 *
 *   producer(connectInfo, { topic, confirm, maxInFlight }): Promise<Producer>
 *     Producer = {
 *       publish(payload: Buffer): Promise<void>   resolves on the broker's confirm
 *       send(payload: Buffer): boolean            fire and forget; false = not taken (dropped)
 *       flush(): Promise<void>                    everything sent has left this process
 *       close(): Promise<void>
 *     }
 *     The caller keeps at most maxInFlight publishes unconfirmed and may reuse
 *     `payload` as soon as publish/send returns (copy it if the client does not).
 *
 *   consumer(connectInfo, { topic, group, maxInFlight, ack }, onMessage): Promise<Consumer>
 *     onMessage(payload: Buffer) for every message the group receives; ack 'each'
 *     acknowledges each one after onMessage returns, 'none' reads without acks.
 *     maxInFlight bounds unacknowledged messages held by this consumer.
 *     Consumer = { close(): Promise<void> }
 */
export const ADAPTER_EXPORTS = ['name', 'durability', 'startServer', 'prepare', 'producer', 'consumer']

/** Import bench/embedded/adapters/<name>.mjs and check it has every export above. */
export async function loadAdapter(name) {
  const mod = await import(new URL(`./adapters/${name}.mjs`, import.meta.url))
  const missing = ADAPTER_EXPORTS.filter((k) => mod[k] === undefined)
  if (missing.length > 0) throw new Error(`bench adapter ${name} lacks ${missing.join(', ')}`)
  return mod
}
