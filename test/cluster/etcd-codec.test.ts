/**
 * The etcd client's conversions that need no etcd: the range end of a prefix
 * (clientv3's GetPrefixRangeEnd), int64 strings to numbers, endpoint URLs,
 * and golden bytes of messages encoded with our proto subset.
 */
import t from 'tap'
import { prefixEnd, toNumber } from '../../broker/cluster/etcd/codec.js'
import { parseEndpoint } from '../../broker/cluster/etcd/endpoint.js'
import { etcdMessage } from '../../broker/cluster/etcd/proto.js'

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

// Golden bytes worked out by hand from upstream rpc.proto's field and enum
// numbers (Compare: result 1, target 2, key 3, mod_revision 6; MOD = 2,
// NOT_EQUAL = 3). An enum name that did not exist in our proto would encode
// as 0 and change these bytes.
t.test('messages encode with upstream numbers', async (t) => {
  const compare = etcdMessage('etcdserverpb.Compare')
  t.equal(compare.serialize({ result: 'NOT_EQUAL', target: 'MOD', key: Buffer.from('k'), mod_revision: '5' }).toString('hex'), '080310021a016b3005')
  t.match(compare.deserialize(Buffer.from('080310021a016b3005', 'hex')), { result: 'NOT_EQUAL', target: 'MOD', mod_revision: '5', target_union: 'mod_revision' })

  const watch = etcdMessage('etcdserverpb.WatchRequest')
  const create = { key: Buffer.from('/a/'), range_end: prefixEnd('/a/'), start_revision: '7', progress_notify: true, prev_kv: true }
  t.equal(watch.serialize({ create_request: create }).toString('hex'), '0a100a032f612f12032f6130180720013001')

  // A lease id past 2^53 survives as a string, both ways.
  const keepAlive = etcdMessage('etcdserverpb.LeaseKeepAliveRequest')
  t.equal(keepAlive.serialize({ ID: '7587874653343064595' }).toString('hex'), '0893c4d085b8f9e2a669')
  t.match(etcdMessage('etcdserverpb.LeaseKeepAliveResponse').deserialize(Buffer.from('1093c4d085b8f9e2a669180a', 'hex')), { ID: '7587874653343064595', TTL: '10' })
})
