"""One module per command of `python -m benchmark`: read options, call the stages, print the result.

Imported only when its command runs, so `--help` and the commands that need no model start
without TensorFlow.
"""
