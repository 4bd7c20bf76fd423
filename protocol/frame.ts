/**
 * Frame codec. On the wire a frame is
 *
 *   u32 length (big-endian, counts the opcode and the body, so >= 1)
 *   u8  opcode
 *   ... body (length - 1 bytes; MessagePack for every frame defined so far)
 *
 * The decoder keeps a list of received chunks and a byte count. It reads the
 * length as soon as four bytes are in, rejects an oversize or zero length before
 * buffering the body, and hands out a `subarray` of the chunk when the frame
 * lies in one chunk; it copies only a frame that straddles chunks.
 */
import { SkiffError } from './errors.js'
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
  private chunks: Buffer[] = []
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
      this.consume(4)
      this.pending = len
    }
    if (this.buffered < this.pending) return null
    const bytes = this.consume(this.pending)
    this.pending = -1
    return { opcode: bytes[0]!, body: bytes.subarray(1) }
  }

  private readLength(): number {
    const head = this.chunks[0]!
    if (head.length >= 4) return head.readUInt32BE(0)
    const b = Buffer.allocUnsafe(4)
    let got = 0
    for (const c of this.chunks) {
      const n = Math.min(4 - got, c.length)
      c.copy(b, got, 0, n)
      got += n
      if (got === 4) break
    }
    return b.readUInt32BE(0)
  }

  /** Remove n bytes from the front; a view when they lie in one chunk. */
  private consume(n: number): Buffer {
    this.buffered -= n
    const head = this.chunks[0]!
    if (head.length > n) {
      this.chunks[0] = head.subarray(n)
      return head.subarray(0, n)
    }
    if (head.length === n) {
      this.chunks.shift()
      return head
    }
    const out = Buffer.allocUnsafe(n)
    let off = 0
    while (off < n) {
      const c = this.chunks[0]!
      const take = Math.min(n - off, c.length)
      c.copy(out, off, 0, take)
      off += take
      if (take === c.length) this.chunks.shift()
      else this.chunks[0] = c.subarray(take)
    }
    return out
  }
}
