"""Pretraining (issue 12, in progress): in-graph masking for MLM, ALBERT's sentence order and
BART's text infilling (`masking.py`). Corpus preparation, the pretraining objectives in the
training loop and the `mlm` export come next."""
