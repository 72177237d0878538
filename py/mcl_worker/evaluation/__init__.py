"""Evaluation of CLIP models (one stage or the integrated MCL representation): zero-shot
classification per attribute and MMVP-style paired benchmarks per category."""
