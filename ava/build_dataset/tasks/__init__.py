"""python -m ava.build_dataset: a generator per task family (TAP, TAG, TS, TC, AS); see conf/dataset_tasks."""
