"""python -m ava.evaluate: opinion and culture alignment benchmarks (OpinionQA, OQA-XL, GlobalOpinionQA, GSS,
CultureNLI, CultureBank) from their official files with the official metrics, and the behaviour tasks of a
python -m ava.build_dataset output (does the model predict who engages?)."""
