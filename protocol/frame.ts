/**
 * Frame codec. On the wire a frame is
 *
 *   u32 length (big-endian, counts the opcode and the body, so >= 1)
 *   u8  opcode
 *   ... body (length - 1 bytes; MessagePack for every frame defined so far)
 *
 * The decoder keeps a list of received chunks, a read offset into the first
 * one and a byte count. It reads the length in place as soon as four bytes are
 * in, rejects an oversize or zero length before buffering the body, and hands
 * out the body as one `subarray` of the chunk when the frame lies in one chunk
 * (a view costs ~190 ns here, so it makes no other); it copies only a frame
 * that straddles chunks.
 */
import { SkiffError } from './errors.js'
import { u32 } from './bytes.js'
import { pack } from './codec.js'

export const FRAME_HEADER_BYTES = 5
export const DEFAULT_MAX_FRAME = 1024 * 1024

export interface Frame {
  opcode: number
  /** The body bytes; may be a view of the decoder's input chunk. */
  body: Buffer
}

/** Encode a frame whose body is already bytes (used for pre-encoded bodies). */
export function encodeRawFrame(opcode: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length)
  out.writeUInt32BE(body.length + 1, 0)
  out[4] = opcode
  out.set(body, FRAME_HEADER_BYTES)
  return out
}

/** Encode a frame whose body is a MessagePack value. */
export function encodeFrame(opcode: number, body: unknown): Buffer {
  return encodeRawFrame(opcode, pack(body))
}

export class FrameDecoder {
  /** Received chunks; the first one is read from `offset` on. */
  private chunks: Buffer[] = []
  private offset = 0
  private buffered = 0
  /** Declared length of the frame being assembled, or -1 while the header is incomplete. */
  private pending = -1
  maxFrame: number

  constructor(maxFrame = DEFAULT_MAX_FRAME) {
    this.maxFrame = maxFrame
  }

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /**
   * The next complete frame, or null when more bytes are needed. Throws
   * SkiffError(FRAME_TOO_LARGE | BAD_FRAME) on a length that can never be valid;
   * after a throw the stream is unusable and the connection must close.
   */
  next(): Frame | null {
    if (this.pending < 0) {
      if (this.buffered < 4) return null
      const len = this.readLength()
      if (len === 0) throw new SkiffError('BAD_FRAME', 'frame length 0: a frame has at least an opcode')
      if (len > this.maxFrame) {
        throw new SkiffError('FRAME_TOO_LARGE', `frame of ${len} bytes exceeds the maximum of ${this.maxFrame}`, {
          details: { length: len, maxFrame: this.maxFrame },
        })
      }
      this.skip(4)
      this.pending = len
    }
    const len = this.pending
    if (this.buffered < len) return null
    this.pending = -1
    this.buffered -= len
    const head = this.chunks[0]!
    const start = this.offset
    if (head.length - start >= len) {
      // The common case: the frame lies in one chunk; its body is the only view made.
      const frame = { opcode: head[start]!, body: head.subarray(start + 1, start + len) }
      this.advance(head, start + len)
      return frame
    }
    const opcode = head[start]!
    this.advance(head, start + 1)
    const body = Buffer.allocUnsafe(len - 1)
    this.copyOut(body)
    return { opcode, body }
  }

  /** The 4-byte length at the read position, read in place when the head chunk holds it. */
  private readLength(): number {
    const head = this.chunks[0]!
    const o = this.offset
    if (head.length - o >= 4) return u32(head, o)
    let len = 0
    let got = 0
    for (let c = 0, at = o; got < 4; c++, at = 0) {
      const chunk = this.chunks[c]!
      for (; at < chunk.length && got < 4; at++, got++) len = len * 0x100 + chunk[at]!
    }
    return len
  }

  /** Drop n header bytes (the caller made sure they are buffered). */
  private skip(n: number): void {
    this.buffered -= n
    while (n > 0) {
      const head = this.chunks[0]!
      const take = Math.min(n, head.length - this.offset)
      n -= take
      this.advance(head, this.offset + take)
    }
  }

  /** Move the read position of the head chunk to `to`, dropping the chunk once it is read. */
  private advance(head: Buffer, to: number): void {
    if (to < head.length) {
      this.offset = to
    } else {
      this.chunks.shift()
      this.offset = 0
    }
  }

  /** Fill `out` from the front of the buffered chunks: a frame that straddles chunks is copied. */
  private copyOut(out: Buffer): void {
    let filled = 0
    while (filled < out.length) {
      const head = this.chunks[0]!
      const take = Math.min(out.length - filled, head.length - this.offset)
      head.copy(out, filled, this.offset, this.offset + take)
      filled += take
      this.advance(head, this.offset + take)
    }
  }
}
