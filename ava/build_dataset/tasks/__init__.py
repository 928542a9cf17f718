"""python -m ava.build_dataset: one generator per task family (TAP, TAG, TS, TC, AS), configured in conf/dataset_tasks."""
