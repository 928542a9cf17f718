"""python -m ava.build_dataset: ad content + audience behaviour → instruction samples (the AVA paper's tasks)."""
