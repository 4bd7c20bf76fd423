/**
 * MessagePack bodies an attacker sends, for the bench's hostile runs and the
 * security tests: each is well delimited, and each made msgpackr spend more
 * than linear time or stack before the broker checked bodies against the
 * protocol's grammar (protocol/msgpack-check.ts).
 */

/**
 * A map of one entry whose key is an ext 32 of type 0x42 (a BigInt to
 * msgpackr) and whose value is nil, `bytes` long in all. msgpackr turned the
 * key into a decimal string: ~1 s of CPU for 1 MiB.
 * @param {number} bytes at least 8
 * @returns {Buffer}
 */
export function bigintKeyedMap(bytes) {
  const n = bytes - 8
  const b = Buffer.alloc(bytes)
  b[0] = 0x81
  b[1] = 0xc9
  b.writeUInt32BE(n, 2)
  b[6] = 0x42
  for (let i = 0; i < n; i++) b[7 + i] = (i * 131 + 7) & 0xff
  b[7 + n] = 0xc0
  return b
}

/**
 * One-element arrays nested `bytes - 1` deep around nil.
 * @param {number} bytes
 * @returns {Buffer}
 */
export function nestedArrays(bytes) {
  const b = Buffer.alloc(bytes, 0x91)
  b[bytes - 1] = 0xc0
  return b
}
