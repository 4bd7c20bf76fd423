/**
 * PING (0x03) and PONG (0x04), either direction. The body is an empty
 * MessagePack map (0x80); an empty body is accepted too. A PING is answered by
 * a PONG; any frame counts as a sign of life for the idle timeout.
 */
import { Op } from '../opcodes.js'
import { encodeRawFrame } from '../frame.js'

const EMPTY_MAP = Buffer.from([0x80])

export function encodePing(): Buffer {
  return encodeRawFrame(Op.PING, EMPTY_MAP)
}

export function encodePong(): Buffer {
  return encodeRawFrame(Op.PONG, EMPTY_MAP)
}
