"""python -m ava.train: LoRA fine-tuning of a causal LM on the ava.build_dataset instruction samples."""
