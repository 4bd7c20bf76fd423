/**
 * SUBSCRIBE (0x20), client -> broker: join a consumer group on a topic.
 *   corr           uint    answered by OK { result: { partitions } } or ERROR
 *   sub            uint    the client's id for this subscription (unique per connection)
 *   topic          string
 *   group          string? consumer group; every group sees every message. Absent: an
 *                          ephemeral subscription (below)
 *   ephemeral      bool?   true: the subscription has a group of its own that is never
 *                          saved and is removed when the subscription ends (unsubscribe,
 *                          disconnect), like a NATS core subscription or `kcat -C`. Sent
 *                          without `group`; a SUBSCRIBE without `group` is ephemeral.
 *   start          string  where a *new* group starts: "earliest" | "latest" | "offset" | "timestamp"
 *   startValue     uint?   the offset or timestamp (ms) for "offset" / "timestamp"
 *   maxInFlight    uint    unacked deliveries this subscription may hold (credits)
 *   ackTimeoutMs   uint?   redeliver a message not acked within this (default 30000)
 *   maxDeliveries  uint?   after this many deliveries, dead-letter (default 5)
 *   ack            string? "explicit" (default): every message is acked, nacked or
 *                          redelivered after its timeout. "none": a message counts as
 *                          settled for the group when the broker sends it (at most once:
 *                          never redelivered, no dead letters);
 *                          the client still sends ACK frames for what it has taken, and
 *                          the broker reads them only as credits coming back.
 *   partitions     uint[]? only these partitions of the topic (distinct, each below its
 *                          partition count). Absent: every partition this broker leads
 *                          (a single broker: all of them). In a cluster a client
 *                          subscribes at each partition's leader with the partitions it
 *                          leads; one it does not lead is NOT_LEADER.
 *
 * UNSUBSCRIBE (0x21), client -> broker: leave; unacked messages are redelivered.
 *   corr  uint
 *   sub   uint
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { MAX_NAME_FIELD } from './limits.js'
import { SkiffError } from '../errors.js'
import { MAX_PARTITIONS } from './admin.js'

export const START_POSITIONS = ['earliest', 'latest', 'offset', 'timestamp'] as const
export type StartPosition = (typeof START_POSITIONS)[number]

export const ACK_MODES = ['explicit', 'none'] as const
export type AckMode = (typeof ACK_MODES)[number]

export interface Subscribe {
  corr: number
  sub: number
  topic: string
  /** '' for an ephemeral subscription (the broker names its group). */
  group: string
  /** A group of its own, never saved, removed when the subscription ends. */
  ephemeral?: boolean | undefined
  start: StartPosition
  startValue?: number | undefined
  maxInFlight: number
  ackTimeoutMs?: number | undefined
  maxDeliveries?: number | undefined
  /** Absent means "explicit". */
  ack?: AckMode | undefined
  /** Only these partitions; absent: every partition this broker leads. */
  partitions?: number[] | undefined
}

export interface Unsubscribe {
  corr: number
  sub: number
}

export const MAX_IN_FLIGHT_LIMIT = 100_000

export function encodeSubscribe(s: Subscribe): Buffer {
  const body: Record<string, unknown> = {
    corr: s.corr,
    sub: s.sub,
    topic: s.topic,
    ...(s.ephemeral === true ? { ephemeral: true } : { group: s.group }),
    start: s.start,
    maxInFlight: s.maxInFlight,
  }
  if (s.startValue !== undefined) body.startValue = s.startValue
  if (s.ackTimeoutMs !== undefined) body.ackTimeoutMs = s.ackTimeoutMs
  if (s.maxDeliveries !== undefined) body.maxDeliveries = s.maxDeliveries
  if (s.ack !== undefined && s.ack !== 'explicit') body.ack = s.ack
  if (s.partitions !== undefined) body.partitions = s.partitions
  return encodeFrame(Op.SUBSCRIBE, body)
}

export function decodeSubscribe(body: Buffer): Subscribe {
  const f = new Fields('SUBSCRIBE', body)
  const start = f.oneOf('start', START_POSITIONS, 'latest')
  const ack = f.oneOf('ack', ACK_MODES, 'explicit')
  // Decision: no group means ephemeral, so `ephemeral: true` is optional; a group named
  // together with `ephemeral: true` is a contradiction, refused rather than guessed at.
  const ephemeral = f.bool('ephemeral', !f.has('group'))
  if (ephemeral && f.has('group')) throw new SkiffError('INVALID_REQUEST', 'SUBSCRIBE.group must be absent when SUBSCRIBE.ephemeral is true')
  if (!ephemeral && !f.has('group')) throw new SkiffError('INVALID_REQUEST', 'SUBSCRIBE.group is required unless SUBSCRIBE.ephemeral is true')
  return {
    corr: f.uint('corr'),
    sub: f.uint('sub', 0xffffffff),
    topic: f.str('topic', MAX_NAME_FIELD),
    group: ephemeral ? '' : f.str('group', MAX_NAME_FIELD),
    ...(ephemeral ? { ephemeral: true } : {}),
    start,
    startValue: start === 'offset' || start === 'timestamp' ? f.uint('startValue') : undefined,
    maxInFlight: Math.max(1, f.uint('maxInFlight', MAX_IN_FLIGHT_LIMIT)),
    ackTimeoutMs: f.optUint('ackTimeoutMs', 24 * 3600 * 1000),
    maxDeliveries: f.optUint('maxDeliveries', 1_000_000),
    // Only a non-default mode is spelled out, as encodeSubscribe writes it.
    ...(ack === 'none' ? { ack } : {}),
    ...(f.has('partitions') ? { partitions: distinct(f.uintArray('partitions', MAX_PARTITIONS)) } : {}),
  }
}

function distinct(partitions: number[]): number[] {
  if (partitions.length === 0) throw new SkiffError('INVALID_REQUEST', 'SUBSCRIBE.partitions must name at least one partition')
  if (new Set(partitions).size !== partitions.length) throw new SkiffError('INVALID_REQUEST', 'SUBSCRIBE.partitions must not name a partition twice')
  return partitions
}

export function encodeUnsubscribe(u: Unsubscribe): Buffer {
  return encodeFrame(Op.UNSUBSCRIBE, u)
}

export function decodeUnsubscribe(body: Buffer): Unsubscribe {
  const f = new Fields('UNSUBSCRIBE', body)
  return { corr: f.uint('corr'), sub: f.uint('sub', 0xffffffff) }
}
