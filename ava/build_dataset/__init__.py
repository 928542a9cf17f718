"""python -m ava.build_dataset: ad content + audience behaviour → the AVA paper's instruction samples."""
