/** The observability options: defaults, and refusals that name the option. */
import t from 'tap'
import { DEFAULTS, envName, fromEnv, resolveConfig } from '../../broker/config.js'
import { parseHostPort } from '../../broker/observability/config-check.js'

t.test('defaults', async (t) => {
  const c = resolveConfig({})
  t.equal(c.httpPort, 9600)
  t.equal(c.httpHost, '127.0.0.1', 'loopback, whatever the protocol port listens on')
  t.equal(resolveConfig({ host: '0.0.0.0', allowAnonymous: true }).httpHost, '127.0.0.1', 'also when the protocol port listens everywhere')
  t.equal(c.udp, true)
  t.equal(c.udpPort, 0, 'the TCP port number')
  t.equal(c.statsd, '', 'off')
  t.equal(c.statsdIntervalS, 10)
  t.ok(DEFAULTS.maxMetricTopics > 0 && DEFAULTS.maxMetricGroups > 0)
})

t.test('every option has its environment variable', async (t) => {
  t.equal(envName('httpPort'), 'SKIFF_HTTP_PORT')
  t.equal(envName('statsdIntervalS'), 'SKIFF_STATSD_INTERVAL_S')
  t.same(fromEnv({ SKIFF_STATSD: '127.0.0.1:8125', SKIFF_UDP: 'false', SKIFF_MAX_METRIC_TOPICS: '50' }), { udp: false, statsd: '127.0.0.1:8125', maxMetricTopics: 50 })
})

t.test('bad values are refused, naming the option', async (t) => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ httpPort: 70000 }, /httpPort/],
    [{ udpPort: 1.5 }, /udpPort/],
    [{ udpMaxDatagram: 10 }, /udpMaxDatagram/],
    [{ udpMaxDatagram: 70000 }, /udpMaxDatagram/],
    [{ statsd: 'localhost' }, /statsd must be host:port/],
    [{ statsd: 'host:0' }, /statsd/],
    [{ statsdIntervalS: 0 }, /statsdIntervalS/],
    [{ maxMetricTopics: 0 }, /maxMetricTopics/],
    [{ maxMetricGroups: 2.5 }, /maxMetricGroups/],
  ]
  for (const [opts, msg] of bad) t.throws(() => resolveConfig(opts), { name: 'ConfigError', message: msg }, JSON.stringify(opts))
})

t.test('host:port', async (t) => {
  t.same(parseHostPort('127.0.0.1:8125'), { host: '127.0.0.1', port: 8125 })
  t.same(parseHostPort('statsd.internal:9125'), { host: 'statsd.internal', port: 9125 })
  t.same(parseHostPort('[::1]:8125'), { host: '::1', port: 8125 })
  t.equal(parseHostPort('::1:8125'), undefined, 'IPv6 needs brackets')
  t.equal(parseHostPort('host:99999'), undefined)
  t.equal(parseHostPort(''), undefined)
})
