/**
 * WELCOME (0x02), broker -> client, the answer to a good HELLO.
 *   version        uint    the protocol version chosen (highest in common)
 *   server         string  "skiffmq/<version>"
 *   connectionId   uint    the broker's id for this connection
 *   maxFrame       uint    largest frame length either side may send
 *   heartbeatMs    uint    how often the client should PING when idle
 *   idleTimeoutMs  uint    silence after which the broker drops the client
 *   brokerId       uint?   this broker's id (0 for a single broker)
 *   clusterId      string? the cluster this broker belongs to (a single broker:
 *                          the id of its data directory)
 *   clustered      bool?   true from a broker of a cluster of several (--cluster): the
 *                          client asks METADATA and routes each partition to its
 *                          leader. Absent from a single broker.
 * brokerId and clusterId are absent from brokers that predate them.
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { MAX_BROKER_ID, MAX_CLUSTER_ID } from './metadata.js'

export interface Welcome {
  version: number
  server: string
  connectionId: number
  maxFrame: number
  heartbeatMs: number
  idleTimeoutMs: number
  brokerId?: number | undefined
  clusterId?: string | undefined
  clustered?: boolean | undefined
}

export function encodeWelcome(w: Welcome): Buffer {
  const { brokerId, clusterId, clustered, ...always } = w
  return encodeFrame(Op.WELCOME, {
    ...always,
    ...(brokerId === undefined ? {} : { brokerId }),
    ...(clusterId === undefined ? {} : { clusterId }),
    ...(clustered === true ? { clustered } : {}),
  })
}

export function decodeWelcome(body: Buffer): Welcome {
  const f = new Fields('WELCOME', body)
  return {
    version: f.uint('version'),
    server: f.str('server', 256),
    connectionId: f.uint('connectionId'),
    maxFrame: f.uint('maxFrame'),
    heartbeatMs: f.uint('heartbeatMs'),
    idleTimeoutMs: f.uint('idleTimeoutMs'),
    ...(f.has('brokerId') ? { brokerId: f.uint('brokerId', MAX_BROKER_ID) } : {}),
    ...(f.has('clusterId') ? { clusterId: f.str('clusterId', MAX_CLUSTER_ID) } : {}),
    ...(f.bool('clustered', false) ? { clustered: true } : {}),
  }
}
