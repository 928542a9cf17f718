"""python -m ava.evaluate: opinion and culture alignment benchmarks (OpinionQA, OQA-XL, GlobalOpinionQA,
CultureNLI, CultureBank) from their official files, with the official metrics."""
