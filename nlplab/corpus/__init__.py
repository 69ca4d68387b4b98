"""Pretraining corpora: raw dumps -> filtered, deduplicated, decontaminated parquet shards
plus a manifest (`nlplab corpus build|export|stats`). See nlplab/corpus/build.py."""
