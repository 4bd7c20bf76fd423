/**
 * Frame codec. On the wire a frame is
 *
 *   u32 length (big-endian, counts the opcode and the body, so >= 1)
 *   u8  opcode
 *   ... body (length - 1 bytes; MessagePack for every frame defined so far)
 *
 * The decoder reads frames out of the received chunks in place: a frame that
 * lies in one chunk is handed out as one `subarray` of it (a view costs ~190
 * ns here, so it makes no other), and so is a frame whose length prefix came
 * in an earlier chunk and whose opcode and body lie in one. The length is
 * checked as soon as its four bytes are in, before anything of the body is
 * kept: an oversize or zero length is refused from the prefix alone.
 *
 * A frame that runs past the bytes received is copied, as its bytes arrive,
 * into one buffer of its own that grows by doubling, never beyond the
 * declared length. So the memory held for a partly received frame is at most
 * about twice the bytes received plus a small constant (heldBytes), however
 * the sender cuts it up: keeping each received chunk instead held ~393 bytes
 * of broker memory per byte for a frame sent one byte per TCP segment (each
 * chunk a Buffer object of its own). Doubling keeps the copying amortised
 * O(n); a frame straddling two large chunks is copied about once, as before.
 * Once next() has returned null, no received chunk is held at all.
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

/** First size of a partial frame's buffer: small frames straddling two chunks need one allocation. */
const MIN_PARTIAL = 256
/**
 * Chunks a partly received frame may stay in before its bytes are copied into
 * a buffer of its own. A large frame arriving in a few socket reads (a
 * DELIVER or PUBLISH batch over two or three 64 KiB chunks, the common case)
 * is then copied once, into a buffer of its exact size, when it is complete;
 * copying each piece on arrival into a doubling buffer copied it about twice
 * and allocated three buffers (S3 measured ~8% fewer deliveries/s). A frame
 * cut into more pieces than this (one byte per segment) is copied as it comes,
 * so what it holds stays about twice its bytes: a few Buffer objects at most.
 */
const DEFER_CHUNKS = 4
const EMPTY = Buffer.alloc(0)

export class FrameDecoder {
  /** Received chunks not read through yet, from `first` on; the one at `first` is read from `offset` on. */
  private chunks: Buffer[] = []
  private first = 0
  private offset = 0
  /** Unread bytes in `chunks`, and the sizes of the chunks held (a view holds all of its chunk). */
  private chunkBytes = 0
  private chunkHeld = 0
  /** The length prefix being read: its value so far and how many of its 4 bytes are in. */
  private header = 0
  private headerBytes = 0
  /** The opcode and body of a frame that ran past the bytes received: `partialLength` bytes of `partial`. */
  private partial = EMPTY
  private partialLength = 0
  maxFrame: number

  constructor(maxFrame = DEFAULT_MAX_FRAME) {
    this.maxFrame = maxFrame
  }

  /** Bytes received and not yet handed out in a frame. */
  get bufferedBytes(): number {
    return this.headerBytes + this.partialLength + this.chunkBytes
  }

  /**
   * Bytes of memory the decoder keeps in buffers: a partial frame's buffer
   * and the received chunks not yet read through (none once next() has
   * returned null). At most about twice bufferedBytes plus MIN_PARTIAL.
   */
  get heldBytes(): number {
    return this.partial.length + this.chunkHeld
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.chunkBytes += chunk.length
    this.chunkHeld += chunk.length
  }

  /** Let go of every buffer (the connection is gone). */
  clear(): void {
    this.chunks = []
    this.first = this.offset = this.chunkBytes = this.chunkHeld = 0
    this.header = this.headerBytes = this.partialLength = 0
    this.partial = EMPTY
  }

  /**
   * The next complete frame, or null when more bytes are needed. Throws
   * SkiffError(FRAME_TOO_LARGE | BAD_FRAME) on a length that can never be valid;
   * after a throw the stream is unusable and the connection must close.
   */
  next(): Frame | null {
    if (this.headerBytes === 0 && this.chunkBytes >= 4) {
      // The common case: a whole frame in the current chunk; its body is the only view made.
      const head = this.chunks[this.first]!
      const start = this.offset
      const avail = head.length - start
      if (avail >= 4) {
        const len = this.checkLength(u32(head, start))
        if (avail - 4 >= len) {
          const frame = { opcode: head[start + 4]!, body: head.subarray(start + 5, start + 4 + len) }
          this.advance(head, start + 4 + len, 4 + len)
          return frame
        }
      }
    }
    return this.assemble()
  }

  /** A frame from what lies across chunks: the length prefix, then a view of one chunk or a copy. */
  private assemble(): Frame | null {
    while (this.headerBytes < 4) {
      if (this.chunkBytes === 0) return null
      const head = this.chunks[this.first]!
      this.header = this.header * 0x100 + head[this.offset]!
      this.headerBytes++
      this.advance(head, this.offset + 1, 1)
    }
    const len = this.checkLength(this.header)
    if (this.partialLength === 0 && this.chunkBytes > 0) {
      const head = this.chunks[this.first]!
      const start = this.offset
      if (head.length - start >= len) {
        // The prefix came apart from the rest, which lies in one chunk: a view of it.
        const frame = { opcode: head[start]!, body: head.subarray(start + 1, start + len) }
        this.advance(head, start + len, len)
        this.header = this.headerBytes = 0
        return frame
      }
    }
    // A frame still coming in over a few chunks is left in them, copied once
    // when complete (DEFER_CHUNKS); only one arriving in many pieces is copied
    // as it comes.
    if (this.partialLength === 0 && this.chunkBytes < len && this.chunks.length - this.first <= DEFER_CHUNKS) return null
    if (!this.fill(len)) return null
    const p = this.partial
    // The frame keeps its buffer; the next partial frame gets a new one.
    this.partial = EMPTY
    this.partialLength = 0
    this.header = this.headerBytes = 0
    return { opcode: p[0]!, body: p.subarray(1, len) }
  }

  /** Copy received bytes into the partial frame, toward `len` in all; true once it is complete. */
  private fill(len: number): boolean {
    const want = Math.min(len, this.partialLength + this.chunkBytes)
    if (want > this.partial.length) {
      // Doubling (amortised O(n) copying), never past the frame, never more than twice what was received.
      const grown = Buffer.allocUnsafe(Math.min(len, Math.max(MIN_PARTIAL, 2 * this.partial.length, want)))
      this.partial.copy(grown, 0, 0, this.partialLength)
      this.partial = grown
    }
    while (this.partialLength < want) {
      const head = this.chunks[this.first]!
      const take = Math.min(want - this.partialLength, head.length - this.offset)
      head.copy(this.partial, this.partialLength, this.offset, this.offset + take)
      this.partialLength += take
      this.advance(head, this.offset + take, take)
    }
    return this.partialLength === len
  }

  /** A declared length, refused when no frame can have it. */
  private checkLength(len: number): number {
    if (len === 0) throw new SkiffError('BAD_FRAME', 'frame length 0: a frame has at least an opcode')
    if (len > this.maxFrame) {
      throw new SkiffError('FRAME_TOO_LARGE', `frame of ${len} bytes exceeds the maximum of ${this.maxFrame}`, {
        details: { length: len, maxFrame: this.maxFrame },
      })
    }
    return len
  }

  /** `read` bytes of the current chunk are used, up to `to`: move on, letting go of the chunk once it is read through. */
  private advance(head: Buffer, to: number, read: number): void {
    this.chunkBytes -= read
    if (to < head.length) {
      this.offset = to
      return
    }
    this.chunkHeld -= head.length
    this.chunks[this.first++] = EMPTY
    this.offset = 0
    if (this.first === this.chunks.length) {
      this.chunks.length = 0
      this.first = 0
    }
  }
}
