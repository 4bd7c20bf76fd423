/**
 * The etcd client's conversions that need no etcd: the range end of a prefix
 * (clientv3's GetPrefixRangeEnd), int64 strings to numbers, endpoint URLs.
 */
import t from 'tap'
import { prefixEnd, toNumber } from '../../broker/cluster/etcd/codec.js'
import { parseEndpoint } from '../../broker/cluster/etcd/endpoint.js'

t.test('prefixEnd increments the last byte below 0xff', async (t) => {
  t.same(prefixEnd('/skiff/'), Buffer.from('/skiff0'))
  t.same(prefixEnd('a'), Buffer.from('b'))
  t.same(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from('b'), 'a trailing 0xff is dropped and the byte before it incremented')
  t.same(prefixEnd(Buffer.from([0xff, 0xff])), Buffer.from([0]), 'all 0xff: every key from the prefix on')
})

t.test('int64 strings become numbers only when exact', async (t) => {
  t.equal(toNumber('42', 'revision'), 42)
  t.equal(toNumber('9007199254740991', 'revision'), Number.MAX_SAFE_INTEGER)
  t.throws(() => toNumber('9007199254740993', 'revision'), /revision 9007199254740993, beyond/)
})

t.test('endpoint URLs', async (t) => {
  t.equal(parseEndpoint('http://127.0.0.1:2379'), '127.0.0.1:2379')
  t.equal(parseEndpoint(' 10.0.0.1:2379/ '), '10.0.0.1:2379')
  t.throws(() => parseEndpoint('https://h:2379'), /expected http:\/\/host:port/)
  t.throws(() => parseEndpoint('http://h'), /no port/)
})
