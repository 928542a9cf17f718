"""python -m ava.train / ava.evaluate: causal LMs and tokenizers shared by training and evaluation."""
