"""Each topic's compression: one aiokafka producer has one codec, but a stage writes several topics.

Raw pages want zstd (small on disk, cheap); ``crawl.products`` is read by
other teams' consumers, and gzip is the codec every Kafka client reads
without an extra (a plain ``pip install aiokafka`` cannot read zstd or lz4).
The batch packer builds each topic's batches with that topic's codec.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from stages.core.settings import KafkaConfig

CODECS = {
    "none": DefaultRecordBatch.CODEC_NONE,
    "gzip": DefaultRecordBatch.CODEC_GZIP,
    "lz4": DefaultRecordBatch.CODEC_LZ4,
    "zstd": DefaultRecordBatch.CODEC_ZSTD,
}


@dataclass(frozen=True)
class TopicCodecs:
    """The codec of each pipeline topic, and the batch size every batch is built with."""

    by_topic: dict[str, str]
    default: str
    batch_bytes: int

    @classmethod
    def of(cls, config: KafkaConfig) -> TopicCodecs:
        return cls({config.topic_urls: config.compression_urls, config.topic_pages: config.compression_pages,
                    config.topic_products: config.compression_products, config.topic_dlq: config.compression_dlq},
                   config.compression_pages, config.producer_max_batch_bytes)

    def builder(self, topic: str) -> BatchBuilder:
        """An empty batch for ``topic``, compressed with its codec."""
        return BatchBuilder(self.batch_bytes, CODECS[self.by_topic.get(topic, self.default)], is_transactional=False)
