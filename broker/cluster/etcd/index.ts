/** The etcd client cluster mode coordinates through: see client.ts for why it is our own. */
export { EtcdClient, type EtcdClientOptions, type LeaseGrant } from './client.js'
export { NO_LEASE, type KeyValue, type LeaseId, type RangeResult } from './codec.js'
export { EtcdError } from './errors.js'
export { LeaseKeeper, type LeaseKeeperOptions, type LeaseLost } from './lease-keeper.js'
export { PrefixWatcher, type PrefixWatcherOptions, type WatchEvent } from './watcher.js'
export type { Compare, CompareOp, Op, OpResult, TxnRequest, TxnResult } from './txn.js'
