/**
 * Loads our written-out subset of etcd's protos (rpc.proto, kv.proto beside
 * this file in both the source tree and dist/, where `npm run build` copies
 * them) and gives the gRPC service constructors.
 *
 * Loading options, and why:
 * - keepCase: field names stay upstream's snake_case (`mod_revision`,
 *   `request_put`), so the raw messages read like rpc.proto.
 * - longs: String: int64 values travel as decimal strings; codec.ts converts
 *   them at the boundary (revisions to numbers, lease ids stay strings).
 * - enums: String: enums come back as names, and we send names. Because
 *   protobuf.js encodes an unknown name as 0, every enum name this client
 *   sends is checked against the loaded descriptors once, at load time.
 * - defaults: true: absent scalars read as their zero value ('0', false, []).
 * - oneofs: true: a oneof names its present member (`response: 'response_put'`).
 * - bytes stay Buffers (the default).
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import type * as GrpcJs from '@grpc/grpc-js'
import type * as ProtoLoader from '@grpc/proto-loader'

// Optional dependencies: only a broker in cluster mode loads them.
const require = createRequire(import.meta.url)

export type Grpc = typeof GrpcJs

export interface EtcdServices {
  grpc: Grpc
  KV: GrpcJs.ServiceClientConstructor
  Watch: GrpcJs.ServiceClientConstructor
  Lease: GrpcJs.ServiceClientConstructor
}

/** The enum names this client sends, by enum: all must exist upstream. */
export const SENT_ENUMS: Record<string, readonly string[]> = {
  'etcdserverpb.Compare.CompareResult': ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'],
  'etcdserverpb.Compare.CompareTarget': ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'],
  'etcdserverpb.RangeRequest.SortOrder': ['NONE', 'ASCEND'],
  'etcdserverpb.RangeRequest.SortTarget': ['KEY'],
}

let loaded: EtcdServices | undefined

export function etcdServices(): EtcdServices {
  if (loaded) return loaded
  let grpc: Grpc
  let protoLoader: typeof ProtoLoader
  try {
    grpc = require('@grpc/grpc-js') as Grpc
    protoLoader = require('@grpc/proto-loader') as typeof ProtoLoader
  } catch (err) {
    throw new Error('cluster mode needs the optional dependencies @grpc/grpc-js and @grpc/proto-loader (npm install them)', { cause: err })
  }
  const dir = path.dirname(fileURLToPath(import.meta.url))
  const definition = protoLoader.loadSync('rpc.proto', {
    includeDirs: [dir],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  })
  checkSentEnums(definition)
  const root = grpc.loadPackageDefinition(definition) as unknown as { etcdserverpb: Record<string, GrpcJs.ServiceClientConstructor> }
  const { KV, Watch, Lease } = root.etcdserverpb
  loaded = { grpc, KV: KV!, Watch: Watch!, Lease: Lease! }
  return loaded
}

/** Throws when an enum name we send is not in the loaded proto (it would encode as 0). */
function checkSentEnums(definition: ProtoLoader.PackageDefinition): void {
  for (const [name, values] of Object.entries(SENT_ENUMS)) {
    // Nested enums live in their message's descriptor (DescriptorProto.enumType).
    const dot = name.lastIndexOf('.')
    const message = definition[name.slice(0, dot)] as { type?: { enumType?: { name: string; value: { name: string }[] }[] } } | undefined
    const found = message?.type?.enumType?.find((e) => e.name === name.slice(dot + 1))
    const names = new Set((found?.value ?? []).map((v) => v.name))
    for (const v of values) {
      if (!names.has(v)) throw new Error(`etcd proto: enum ${name} has no value ${v}`)
    }
  }
}
