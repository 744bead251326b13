"""Pretraining inputs: `corpus` turns text into fixed-length TFRecord shards (`tfhub-kit data
prepare`); `masking` draws MLM, ALBERT sentence-order and BART infilling masks in the graph.
The objectives themselves train in `tfhub_kit.train`."""
