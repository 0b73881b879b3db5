// The ESM entry point's types (and native.d.ts, which it reaches).
import { DevBroker, KafkaProducer, Kafka } from 'krafty'
import krafty from 'krafty'

const broker: DevBroker = await DevBroker.start()
const producer = new KafkaProducer({ 'bootstrap.servers': broker.bootstrap })
await producer.close()
void new Kafka({ brokers: [broker.bootstrap] })
void krafty.version()
await broker.stop()
