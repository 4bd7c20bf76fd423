/**
 * What the broker told its clients, and when: the frames it wrote to each TCP
 * connection, read back out of the traced socket writes (fs-ops.ts
 * SocketWrite). A frame counts from the write that completed it, so "the
 * client may have seen it" is placed exactly among the file operations.
 *
 * The workload's connections each have one job, which is how a frame is
 * attributed to a topic without seeing what the clients sent:
 *  - a producer connection creates one topic (its OK names the topic) and
 *    then publishes to that topic only, so its PUBLISH_ACKs are that topic's;
 *  - the consumer connection subscribes one group to one topic, so every
 *    DELIVER on any connection is that group's.
 */
import { FrameDecoder, Op, decodeDeliver, decodeOk, decodePublishAck } from '../../../protocol/index.js'
import type { SocketWrite } from './fs-ops.js'

export interface TopicCreated {
  topic: string
  seq: number
}

export interface PublishAcked {
  topic: string
  /** One entry per record when the ack lists them; a run from `offset` otherwise. */
  partition: number | number[]
  offset: number | number[]
  seq: number
}

export interface Delivered {
  partition: number
  offset: number
  seq: number
}

export interface Replies {
  created: TopicCreated[]
  acks: PublishAcked[]
  deliveries: Delivered[]
}

export function repliesOf(writes: SocketWrite[]): Replies {
  const out: Replies = { created: [], acks: [], deliveries: [] }
  const streams = new Map<string, { decoder: FrameDecoder; topic?: string }>()
  for (const w of writes) {
    let s = streams.get(w.stream)
    if (!s) streams.set(w.stream, (s = { decoder: new FrameDecoder(64 * 1024 * 1024) }))
    s.decoder.push(w.data)
    for (let f = s.decoder.next(); f; f = s.decoder.next()) {
      if (f.opcode === Op.OK) {
        const { result } = decodeOk(Buffer.from(f.body))
        const r = result as { topic?: unknown; partitionInfo?: unknown } | undefined
        // TOPIC_CREATE's result is the topic's description (the workload sends no TOPIC_DESCRIBE; SUBSCRIBE's is { partitions }).
        if (r && typeof r.topic === 'string' && Array.isArray(r.partitionInfo)) {
          if (s.topic !== undefined) throw new Error(`connection ${w.stream} created a second topic (${r.topic}); the workload gives each producer one`)
          s.topic = r.topic
          out.created.push({ topic: r.topic, seq: w.seq })
        }
      } else if (f.opcode === Op.PUBLISH_ACK) {
        if (s.topic === undefined) throw new Error(`PUBLISH_ACK on ${w.stream} before a topic was created on it: cannot tell its topic`)
        const a = decodePublishAck(Buffer.from(f.body))
        out.acks.push({ topic: s.topic, partition: a.partition, offset: a.offset, seq: w.seq })
      } else if (f.opcode === Op.DELIVER) {
        for (const m of decodeDeliver(Buffer.from(f.body)).messages) out.deliveries.push({ partition: m[0], offset: m[1], seq: w.seq })
      }
    }
  }
  return out
}
