import t from 'tap'
import { parseUrl, parseBrokerUrls, formatAddress, DEFAULT_URL } from '../../clients/url.js'
import { isSkiffError } from '../../protocol/index.js'

t.test('parses the three schemes with and without a port', async (t) => {
  t.same(parseUrl('skiff://10.0.0.5:7601'), { transport: 'tcp', host: '10.0.0.5', port: 7601 })
  t.same(parseUrl('skiffs://broker.example.com'), { transport: 'tls', host: 'broker.example.com', port: 7600 })
  t.same(parseUrl('udp://127.0.0.1:9999'), { transport: 'udp', host: '127.0.0.1', port: 9999 })
  t.same(parseUrl('skiff://[::1]:7600'), { transport: 'tcp', host: '::1', port: 7600 })
  t.same(parseUrl('  skiff://h:1/  '), { transport: 'tcp', host: 'h', port: 1 })
  t.same(parseUrl(DEFAULT_URL), { transport: 'tcp', host: '127.0.0.1', port: 7600 })
})

t.test('formatAddress gives back a URL that parses to the same address', async (t) => {
  for (const u of ['skiff://h:1', 'skiffs://[::1]:7600', 'udp://10.1.2.3:7600']) {
    t.equal(formatAddress(parseUrl(u)), u)
  }
})

t.test('refuses what is not a broker URL, naming the problem', async (t) => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['127.0.0.1:7600', /scheme:\/\/host:port/],
    ['http://h:80', /unknown scheme "http"/],
    ['skiff://h:0', /port/],
    ['skiff://h:7600/orders', /nothing may follow/],
    ['skiff://h:7600?x=1', /nothing may follow/],
    ['skiff://user:pw@h:7600', /credentials/],
    ['skiff://h:99999', /expected|port/],
  ]
  for (const [input, why] of cases) {
    try {
      parseUrl(input)
      t.fail(`accepted ${JSON.stringify(input)}`)
    } catch (err) {
      t.ok(isSkiffError(err, 'INVALID_REQUEST'), `${JSON.stringify(input)} is INVALID_REQUEST`)
      t.match((err as Error).message, why, `${JSON.stringify(input)}: ${(err as Error).message}`)
    }
  }
})

t.test('seeds: a list, or a comma list in one string with the scheme on each or on the first only', async (t) => {
  const ports = (input: string | string[]) => parseBrokerUrls(input).map((a) => `${a.transport} ${a.host}:${a.port}`)
  t.same(ports(['skiff://a:7600', 'skiff://b:7601']), ['tcp a:7600', 'tcp b:7601'])
  t.same(ports('skiff://a:7600,skiff://b:7601'), ['tcp a:7600', 'tcp b:7601'])
  t.same(ports('skiffs://a:7600, b:7601,c:7602'), ['tls a:7600', 'tls b:7601', 'tls c:7602'], 'the first scheme for those without one')
  t.throws(() => parseBrokerUrls('skiff://a:7600,'), /empty/, 'an empty entry is refused')
  t.throws(() => parseBrokerUrls('skiff://a:7600,udp://b:7601'), /telemetry address/)
})
