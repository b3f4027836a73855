"""Distributed runs: split an evaluation into shards by sample, run them anywhere, merge them back.

``shards`` decides which samples a shard owns, ``merge`` checks that a set of shard runs is one
complete evaluation and joins it, ``ray_executor`` runs the shards as Ray tasks. Ray is imported
only by ``ray_executor``, so sharding and merging work without it.
"""
