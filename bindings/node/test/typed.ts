// Compiled with `tsc --noEmit --strict` (test/typescript.test.js): the package's types as a
// TypeScript user meets them, through both APIs.
import { KafkaProducer, KafkaConsumer, DevBroker, Kafka, KraftyError, CompressionTypes, ApiKeys } from 'krafty'
import type { ConsumerRecord, RecordMetadata, EachMessagePayload, KafkaJSRecordMetadata } from 'krafty'

async function main (): Promise<void> {
  const broker: DevBroker = await DevBroker.start({ port: 0, config: { 'num.partitions': 1 } })
  broker.failNext(ApiKeys.Produce, 6, 1)
  const producer = new KafkaProducer({ 'bootstrap.servers': broker.bootstrap, 'linger.ms': 5, 'enable.idempotence': true })
  const meta: RecordMetadata = await producer.send({ topic: 't', key: null, value: Buffer.from('v'), headers: [{ key: 'h', value: 'x' }] })
  const offset: number = meta.offset
  const consumer = new KafkaConsumer({ 'bootstrap.servers': broker.bootstrap, 'group.id': 'g' })
  await consumer.subscribe(['t'], {
    async onPartitionsRevoked (partitions) { await consumer.commit(); void partitions.length },
    onPartitionsAssigned (partitions) { void partitions[0]?.partition }
  })
  for await (const record of consumer) {
    const r: ConsumerRecord = record
    const key: Buffer | null = r.key
    void key
    break
  }
  try {
    await consumer.commit([{ topic: 't', partition: 0, offset: offset + 1 }])
  } catch (e) {
    if (e instanceof KraftyError) {
      const code: number = e.code
      const type: string = e.type
      const retriable: boolean = e.retriable
      void [code, type, retriable]
    }
  }
  const kafka = new Kafka({ clientId: 'typed', brokers: [broker.bootstrap] })
  const p = kafka.producer({ idempotent: true })
  const sent: KafkaJSRecordMetadata[] = await p.send({ topic: 't', compression: CompressionTypes.GZIP, messages: [{ key: 'k', value: 'v', headers: { a: 'b' } }] })
  void sent[0].baseOffset
  const c = kafka.consumer({ groupId: 'g2' })
  await c.subscribe({ topics: ['t'], fromBeginning: true })
  c.on(c.events.GROUP_JOIN, (e) => { void e.payload })
  await c.run({ eachMessage: async ({ message, partition }: EachMessagePayload) => { void [message.value?.toString(), partition] } })
  const admin = kafka.admin()
  const created: boolean = await admin.createTopics({ topics: [{ topic: 'x', numPartitions: 2 }] })
  void created
  await Promise.all([c.disconnect(), p.disconnect(), admin.disconnect(), consumer.close(), producer.close()])
  await broker.stop()
}

void main
