// Types of the krafty package: the Krafty API (lib/client.js, over the generated native.d.ts)
// and the kafkajs-shaped API (lib/kafkajs.js).
/// <reference types="node" />
import type {
  RecordMetadata,
  TopicPartition,
  TopicPartitionOffset,
  GroupMetadata,
  TopicMetadata,
  GroupListing,
  GroupDescription,
  TopicSpec
} from './native'

export type {
  RecordMetadata,
  TopicPartition,
  TopicPartitionOffset,
  GroupMetadata,
  TopicMetadata,
  PartitionMetadata,
  GroupListing,
  GroupDescription,
  MemberDescription,
  TopicSpec
} from './native'

/** Kafka properties by Kafka's names: `{ 'bootstrap.servers': 'host:9092', 'linger.ms': 5 }`. */
export type KafkaConfig = Record<string, string | number | boolean | string[] | null | undefined>

/** Bytes: a Buffer (or Uint8Array), or a string (UTF-8). */
export type Data = Buffer | Uint8Array | string

export interface Header { key: string; value: Data | null }

export interface ProducerRecord {
  topic: string
  key?: Data | null
  value?: Data | null
  /** `[{ key, value }]`, or kafkajs's `{ key: value | value[] }`. */
  headers?: Header[] | Record<string, Data | Data[] | null>
  partition?: number
  /** CreateTime in ms since the epoch (default: now). */
  timestamp?: number
}

export interface ConsumedHeader { key: string; value: Buffer | null }

export interface ConsumerRecord {
  topic: string
  partition: number
  offset: number
  timestamp: number
  timestampType: 'CreateTime' | 'LogAppendTime' | string
  key: Buffer | null
  value: Buffer | null
  headers: ConsumedHeader[]
  leaderEpoch?: number
}

/** What a rejected promise carries. */
export declare class KraftyError extends Error {
  /** Kafka's numeric error code, or a negative local one (-1 network, -2 config, -3 closed, -4 illegal state, ...). */
  readonly code: number
  /** Kafka's error name ("UNKNOWN_TOPIC_OR_PARTITION"), or a local one ("INVALID_CONFIG", "NETWORK_ERROR", ...). */
  readonly type: string
  readonly retriable: boolean
  readonly fatal: boolean
  readonly topic?: string
  readonly partition?: number
  /** For INVALID_CONFIG: the property, by Kafka's name. */
  readonly property?: string
}

export declare class KafkaProducer {
  constructor (config: KafkaConfig)
  connect (): Promise<void>
  send (record: ProducerRecord): Promise<RecordMetadata>
  sendBatch (records: ProducerRecord[]): Promise<RecordMetadata[]>
  flush (): Promise<void>
  partitionsFor (topic: string): Promise<number[]>
  /** Transactions (`transactional.id`): fences an older instance with the same id. */
  initTransactions (): Promise<void>
  beginTransaction (): Promise<void>
  /** Commits the group's `offsets` (the next offsets to read) with the transaction. */
  sendOffsetsToTransaction (offsets: TopicPartitionOffset[], groupMetadata: GroupMetadata): Promise<void>
  commitTransaction (): Promise<void>
  abortTransaction (): Promise<void>
  close (timeoutMs?: number): Promise<void>
}

export interface RebalanceListener {
  onPartitionsRevoked? (partitions: TopicPartition[], consumer: KafkaConsumer): void | Promise<void>
  onPartitionsAssigned? (partitions: TopicPartition[], consumer: KafkaConsumer): void | Promise<void>
  /** Defaults to onPartitionsRevoked. Do not commit here: others may own them already. */
  onPartitionsLost? (partitions: TopicPartition[], consumer: KafkaConsumer): void | Promise<void>
}

export interface OffsetToCommit { topic: string; partition: number; offset: number | string | bigint; metadata?: string }

export declare class KafkaConsumer implements AsyncIterable<ConsumerRecord> {
  constructor (config: KafkaConfig)
  connect (): Promise<void>
  subscribe (topics: string | string[], listener?: RebalanceListener): Promise<void>
  assign (partitions: TopicPartition[]): Promise<void>
  unsubscribe (): Promise<void>
  assignment (): Promise<TopicPartition[]>
  subscription (): Promise<string[]>
  poll (timeoutMs?: number, maxRecords?: number): Promise<ConsumerRecord[]>
  [Symbol.asyncIterator] (): AsyncIterator<ConsumerRecord>
  commit (offsets?: OffsetToCommit[]): Promise<void>
  commitSync (offsets?: OffsetToCommit[]): Promise<void>
  committed (partitions: TopicPartition[]): Promise<TopicPartitionOffset[]>
  position (partition: TopicPartition): Promise<number>
  seek (partition: TopicPartition, offset: number | string | bigint): Promise<void>
  seekToBeginning (partitions: TopicPartition[]): Promise<void>
  seekToEnd (partitions: TopicPartition[]): Promise<void>
  pause (partitions: TopicPartition[]): Promise<void>
  resume (partitions: TopicPartition[]): Promise<void>
  paused (): Promise<TopicPartition[]>
  beginningOffsets (partitions: TopicPartition[]): Promise<TopicPartitionOffset[]>
  endOffsets (partitions: TopicPartition[]): Promise<TopicPartitionOffset[]>
  groupMetadata (): Promise<GroupMetadata | null>
  wakeup (): void
  close (): Promise<void>
}

export declare class AdminClient {
  constructor (config: KafkaConfig)
  connect (): Promise<void>
  createTopics (topics: TopicSpec[]): Promise<void>
  deleteTopics (topics: string[]): Promise<void>
  listTopics (): Promise<string[]>
  describeTopics (topics: string[]): Promise<TopicMetadata[]>
  createPartitions (topic: string, total: number): Promise<void>
  listOffsets (partitions: TopicPartition[], spec: 'earliest' | 'latest' | number): Promise<TopicPartitionOffset[]>
  listGroups (): Promise<GroupListing[]>
  describeGroup (groupId: string): Promise<GroupDescription>
  listGroupOffsets (groupId: string): Promise<TopicPartitionOffset[]>
  alterGroupOffsets (groupId: string, offsets: OffsetToCommit[]): Promise<void>
  deleteGroups (groupIds: string[]): Promise<void>
  close (): Promise<void>
}

export interface DevBrokerOptions {
  /** 0 or absent: any free port. */
  port?: number
  /** Absent: in memory only. */
  dataDir?: string
  /** Broker settings by Kafka's names. */
  config?: KafkaConfig
  /** Kafka's listeners syntax, replacing the one plaintext listener. */
  listeners?: string
}

export declare class DevBroker {
  private constructor ()
  static start (options?: DevBrokerOptions): Promise<DevBroker>
  readonly bootstrap: string
  readonly port: number
  listenerBootstrap (name: string): string | null
  tlsCaPem (): string | null
  failNext (apiKey: number, errorCode: number, count?: number, topic?: string, partition?: number): void
  addLatency (apiKey: number, millis: number): void
  dropConnectionAfter (requests: number): void
  clearFaults (): void
  errorsFired (): number
  errorsPending (): number
  connectionsDropped (): number
  stop (): Promise<void>
}

export declare const ApiKeys: Readonly<{
  Produce: 0; Fetch: 1; ListOffsets: 2; Metadata: 3; OffsetCommit: 8; OffsetFetch: 9
  FindCoordinator: 10; JoinGroup: 11; Heartbeat: 12; LeaveGroup: 13; SyncGroup: 14
  DescribeGroups: 15; ListGroups: 16; CreateTopics: 19; DeleteTopics: 20; InitProducerId: 22
}>

export declare function murmur2Partition (key: Data, partitionCount: number): number
export declare function version (): string

// ---- the kafkajs-shaped API ----

export declare const CompressionTypes: Readonly<{ None: 0; GZIP: 1; Snappy: 2; LZ4: 3; ZSTD: 4 }>

export interface KafkaOptions {
  clientId?: string
  brokers: string[]
  ssl?: boolean
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512' | string; username: string; password: string }
  requestTimeout?: number
}

export interface Message {
  key?: Data | null
  value: Data | null
  headers?: Record<string, Data | Data[] | null>
  partition?: number
  timestamp?: string | number
}

export interface KafkaJSRecordMetadata {
  topicName: string
  partition: number
  errorCode: number
  baseOffset: string
  logAppendTime: string
  logStartOffset: string
}

export interface TopicMessages { topic: string; messages: Message[] }

export interface KafkaJSProducer {
  connect (): Promise<void>
  send (record: { topic: string; messages: Message[]; acks?: number; compression?: number; timeout?: number }): Promise<KafkaJSRecordMetadata[]>
  sendBatch (batch: { topicMessages: TopicMessages[]; acks?: number; compression?: number; timeout?: number }): Promise<KafkaJSRecordMetadata[]>
  /** Begins a transaction (a producer created with `transactionalId`). */
  transaction (): Promise<KafkaJSTransaction>
  disconnect (): Promise<void>
  on (event: string, listener: (e: any) => void): () => void
  readonly events: Record<string, string>
}

export interface KafkaJSTransaction {
  send (record: { topic: string; messages: Message[]; acks?: number; compression?: number; timeout?: number }): Promise<KafkaJSRecordMetadata[]>
  sendBatch (batch: { topicMessages: TopicMessages[]; acks?: number; compression?: number; timeout?: number }): Promise<KafkaJSRecordMetadata[]>
  /** Commits the group's offsets (the next to read) with the transaction. */
  sendOffsets (offsets: { consumerGroupId: string; topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> }): Promise<void>
  commit (): Promise<void>
  abort (): Promise<void>
  isActive (): boolean
}

export interface KafkaMessage {
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, Buffer | null | Array<Buffer | null>>
  timestamp: string
  attributes: number
  offset: string
  size: number
}

export interface EachMessagePayload {
  topic: string
  partition: number
  message: KafkaMessage
  heartbeat (): Promise<void>
  pause (): () => void
}

export interface Batch {
  topic: string
  partition: number
  highWatermark: string
  messages: KafkaMessage[]
  isEmpty (): boolean
  firstOffset (): string | null
  lastOffset (): string
  offsetLag (): string
  offsetLagLow (): string
}

export interface EachBatchPayload {
  batch: Batch
  resolveOffset (offset: string): void
  heartbeat (): Promise<void>
  pause (): () => void
  commitOffsetsIfNecessary (): Promise<void>
  uncommittedOffsets (): { topics: unknown[] }
  isRunning (): boolean
  isStale (): boolean
}

export interface ConsumerRunConfig {
  autoCommit?: boolean
  eachBatchAutoResolve?: boolean
  eachMessage? (payload: EachMessagePayload): Promise<void>
  eachBatch? (payload: EachBatchPayload): Promise<void>
}

export interface ConsumerEvent<P = any> { id: number; type: string; timestamp: number; payload: P }

export interface KafkaJSConsumer {
  connect (): Promise<void>
  /**
   * Before `run`. `fromBeginning` applies to this call's topics: a partition of theirs with no
   * committed offset for the group (or whose offset is out of the log) starts at its earliest
   * offset when true, at its end when false (the default); a committed offset always wins.
   */
  subscribe (subscription: { topics?: string[]; topic?: string; fromBeginning?: boolean }): Promise<void>
  run (config?: ConsumerRunConfig): Promise<void>
  commitOffsets (offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void>
  seek (target: { topic: string; partition: number; offset: string }): Promise<void>
  pause (topics: Array<{ topic: string; partitions?: number[] }>): void
  resume (topics: Array<{ topic: string; partitions?: number[] }>): void
  paused (): Array<{ topic: string; partitions: number[] }>
  stop (): Promise<void>
  disconnect (): Promise<void>
  on (event: string, listener: (e: ConsumerEvent) => void): () => void
  readonly events: {
    HEARTBEAT: 'consumer.heartbeat'; COMMIT_OFFSETS: 'consumer.commit_offsets'; GROUP_JOIN: 'consumer.group_join'
    FETCH: 'consumer.fetch'; START_BATCH_PROCESS: 'consumer.start_batch_process'; END_BATCH_PROCESS: 'consumer.end_batch_process'
    CONNECT: 'consumer.connect'; DISCONNECT: 'consumer.disconnect'; STOP: 'consumer.stop'; CRASH: 'consumer.crash'
    REBALANCING: 'consumer.rebalancing'
  }
}

export interface KafkaJSAdmin {
  connect (): Promise<void>
  disconnect (): Promise<void>
  createTopics (options: { topics: Array<{ topic: string; numPartitions?: number; replicationFactor?: number; configEntries?: Array<{ name: string; value: string }> }>; waitForLeaders?: boolean }): Promise<boolean>
  deleteTopics (options: { topics: string[] }): Promise<void>
  listTopics (): Promise<string[]>
  fetchTopicMetadata (options?: { topics?: string[] }): Promise<{ topics: Array<{ name: string; partitions: Array<{ partitionErrorCode: number; partitionId: number; leader: number; replicas: number[]; isr: number[]; offlineReplicas: number[] }> }> }>
  fetchTopicOffsets (topic: string): Promise<Array<{ partition: number; offset: string; high: string; low: string }>>
  listGroups (): Promise<{ groups: Array<{ groupId: string; protocolType: string }> }>
  describeGroups (groupIds: string[]): Promise<{ groups: Array<{ errorCode: number; groupId: string; state: string; protocolType: string; protocol: string; members: Array<{ memberId: string; clientId: string; clientHost: string; memberMetadata: Buffer; memberAssignment: Buffer; assignment: TopicPartition[] }> }> }>
  fetchOffsets (options: { groupId: string; topics?: string[] }): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string; metadata: string | null }> }>>
  resetOffsets (options: { groupId: string; topic: string; earliest?: boolean }): Promise<void>
  setOffsets (options: { groupId: string; topic: string; partitions: Array<{ partition: number; offset: string }> }): Promise<void>
  deleteGroups (groupIds: string[]): Promise<void>
}

export declare class Kafka {
  constructor (options: KafkaOptions)
  producer (options?: { idempotent?: boolean; allowAutoTopicCreation?: boolean; transactionalId?: string; transactionTimeout?: number }): KafkaJSProducer
  consumer (options: { groupId: string; sessionTimeout?: number; rebalanceTimeout?: number; heartbeatInterval?: number; maxWaitTimeInMs?: number; maxBytesPerPartition?: number; allowAutoTopicCreation?: boolean }): KafkaJSConsumer
  admin (): KafkaJSAdmin
}
