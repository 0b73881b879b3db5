// ESM entry point: the CommonJS module's exports, by name.
import krafty from './index.js'

export const {
  KafkaProducer,
  KafkaConsumer,
  AdminClient,
  DevBroker,
  ApiKeys,
  KraftyError,
  murmur2Partition,
  version,
  Kafka,
  CompressionTypes
} = krafty
export default krafty
