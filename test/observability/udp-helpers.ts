/**
 * UDP helpers for the telemetry tests: a datagram builder written from the
 * layout in PROTOCOL.md (independent of the client's encoder, so the two are
 * checked against each other), a listener that captures what a sender sends,
 * and a raw sender that also notices any answer.
 */
import dgram from 'node:dgram'
import { createHmac } from 'node:crypto'
import { encodeRecord, type RecordInput } from '../../protocol/index.js'

export interface DatagramSpec {
  topic: string
  records: RecordInput[]
  /** Override the count field (default: records.length). */
  count?: number
  /** Sign as this user with this token. */
  user?: string
  token?: string
}

export function buildDatagram(spec: DatagramSpec): Buffer {
  const topic = Buffer.from(spec.topic, 'utf8')
  const signed = spec.user !== undefined
  const head = [Buffer.from([0x40, 1, signed ? 1 : 0, topic.length]), topic]
  if (signed) head.push(Buffer.from([Buffer.byteLength(spec.user!)]), Buffer.from(spec.user!, 'utf8'))
  const count = Buffer.alloc(4)
  count.writeUInt32BE(spec.count ?? spec.records.length)
  const body = Buffer.concat([...head, count, ...spec.records.map((r) => encodeRecord(r))])
  if (!signed) return body
  return Buffer.concat([body, createHmac('sha256', spec.token ?? '').update(body).digest()])
}

/** Bind a UDP listener on 127.0.0.1; `received` fills as datagrams come. */
export async function listenUdp(): Promise<{ port: number; received: Buffer[]; close(): Promise<void> }> {
  const socket = dgram.createSocket('udp4')
  const received: Buffer[] = []
  socket.on('message', (m) => received.push(m))
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()))
  return {
    port: socket.address().port,
    received,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  }
}

/** Send raw datagrams from one socket; `answers` collects anything sent back to it. */
export async function rawSender(): Promise<{ send(port: number, d: Buffer): Promise<void>; answers: Buffer[]; close(): Promise<void> }> {
  const socket = dgram.createSocket('udp4')
  const answers: Buffer[] = []
  socket.on('message', (m) => answers.push(m))
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()))
  return {
    send: (port, d) => new Promise<void>((resolve, reject) => socket.send(d, port, '127.0.0.1', (err) => (err ? reject(err) : resolve()))),
    answers,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  }
}

/** Wait until `check` holds, bounded. */
export async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
