"""workout-bench: grouped vs leaky k-fold benchmarks for workout-exercise image classifiers."""
