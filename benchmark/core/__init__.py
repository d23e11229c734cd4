"""Plumbing every stage shares: user errors, atomic writes, Ctrl-C safe points, progress bars, the machine.

Nothing here knows about images, folds or models, and nothing here imports TensorFlow.
"""
