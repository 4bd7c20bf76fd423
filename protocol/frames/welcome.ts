/**
 * WELCOME (0x02), broker -> client, the answer to a good HELLO.
 *   version        uint    the protocol version chosen (highest in common)
 *   server         string  "skiffmq/<version>"
 *   connectionId   uint    the broker's id for this connection
 *   maxFrame       uint    largest frame length either side may send
 *   heartbeatMs    uint    how often the client should PING when idle
 *   idleTimeoutMs  uint    silence after which the broker drops the client
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'

export interface Welcome {
  version: number
  server: string
  connectionId: number
  maxFrame: number
  heartbeatMs: number
  idleTimeoutMs: number
}

export function encodeWelcome(w: Welcome): Buffer {
  return encodeFrame(Op.WELCOME, w)
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
  }
}
