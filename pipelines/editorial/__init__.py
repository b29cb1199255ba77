"""Editorial input: cut lists (OpenTimelineIO, CMX3600 EDL, a previs movie) turned into sequences.

Every reader produces an `EditorialCut` (clips with record ranges, dissolves,
grades and notes); `mapping.build_sequence` combines one with a scene mapping
(which set and camera each clip is shot with) into a Sequence spec. Pure:
bytes and tensors in, models out; no Ray, no store, no network.
"""
