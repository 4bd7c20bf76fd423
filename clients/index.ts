/** skiffmq client: `import { connect } from 'skiffmq'`. */
export { connect, Client, type ClientEvents, type ConnectOptions, type ConnectInfo } from './client.js'
export { type ClientStatus, type RetryInfo } from './link.js'
export { DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.js'
export { Producer, type ProducerOptions, type PublishOptions, type PublishResult, type ProducerStats, type WhenFull, type SendResult } from './producer.js'
export { Consumer, type ConsumerEvents, type SubscribeOptions, type StartFrom, type MessageHandler, type ConsumerCloseOptions } from './consumer.js'
export { Message, type NackOptions } from './message.js'
export { RequestMessage, type RequestOptions, type ServeHandler, type Service } from './request-reply.js'
export {
  Admin,
  type TopicOptions,
  type TopicDescription,
  type TopicSummary,
  type PartitionInfo,
  type GroupSummary,
  type GroupDescription,
  type GroupPartition,
  type DeleteGroupOptions,
  type GroupDeleteResult,
  type ResetTo,
  type ResetGroupOptions,
  type ResetPartition,
  type GroupResetResult,
  type TopicPurgeResult,
  type AlterTopicOptions,
} from './admin.js'
export { encodePayload, decodePayload, CONTENT_TYPE } from './payload.js'
export { telemetry, Telemetry, type TelemetryOptions, type TelemetrySendOptions, type TelemetryStats } from './telemetry.js'
export { parseUrl, parseBrokerUrls, formatAddress, DEFAULT_URL, DEFAULT_PORT, type BrokerAddress } from './url.js'
export { SkiffError, ERRORS, isSkiffError, type ErrorName, type ErrorSpec, type Headers, type AckMode } from '../protocol/index.js'
export type { ClusterMetadata, BrokerInfo, TopicPlacement, PartitionPlacement, Welcome } from '../protocol/index.js'
