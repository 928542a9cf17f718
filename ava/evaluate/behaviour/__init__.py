"""python -m ava.evaluate benchmark=behaviour: the AVA behaviour tasks (TAP, AS, TAG, TS, TC) scored on a model."""
